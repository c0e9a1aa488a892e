import pytest

from dailypapers.ids import InvalidArxivId, normalize_arxiv_id, split_arxiv_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2401.12345", ("2401.12345", None)),
        ("2401.12345v3", ("2401.12345", 3)),
        ("0704.0001", ("0704.0001", None)),
        ("http://arxiv.org/abs/2101.02199v5", ("2101.02199", 5)),
        ("https://arxiv.org/pdf/2401.12345v2.pdf", ("2401.12345", 2)),
        ("oai:arXiv.org:cs/0112017", ("cs/0112017", None)),
        ("cs/0112017v2", ("cs/0112017", 2)),
        ("math.GT/0309136", ("math/0309136", None)),
        ("hep-th/9901001v1", ("hep-th/9901001", 1)),
        ("arXiv:2401.12345", ("2401.12345", None)),
    ],
)
def test_split_arxiv_id(raw, expected):
    assert split_arxiv_id(raw) == expected


@pytest.mark.parametrize("raw", ["", "hello", "2401.123", "12345.6789", "cs/01120", "../etc/passwd",
                                 "2401.12345v", "2401.12345 OR 1=1"])
def test_rejects_non_ids(raw):
    with pytest.raises(InvalidArxivId):
        normalize_arxiv_id(raw)
