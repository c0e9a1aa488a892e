"""The Kaggle arXiv metadata snapshot parser (JSON lines).

A real head of the snapshot comes from ../shared/data (see its SOURCES.md); malformed input is
written inline.
"""

from __future__ import annotations

from collections.abc import Iterator

from dailypapers.ingest import kaggle
from dailypapers.ingest.records import SOURCE_KAGGLE
from tests.conftest import shared
from tests.helpers import KAGGLE_HEAD, by_id, kaggle_line, names, run


def test_kaggle_head_file() -> None:
    papers, refusals = run(kaggle, shared(*KAGGLE_HEAD).read_bytes())
    assert len(papers) == 200
    assert refusals == []
    assert all(p.source == SOURCE_KAGGLE for p in papers)
    first = papers[0]
    assert (first.arxiv_id, first.version) == ("0704.0001", 2)
    assert (
        first.title
        == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert names(first) == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]
    assert (first.submitted_at, first.updated_at) == (
        "Mon, 2 Apr 2007 19:18:42 GMT",
        "Tue, 24 Jul 2007 20:10:27 GMT",
    )
    assert first.doi == "10.1103/PhysRevD.76.013009"
    assert first.journal_ref == "Phys.Rev.D76:013009,2007"
    assert first.categories == ["hep-ph"] and first.primary_category == "hep-ph"
    assert first.license is None
    by = by_id(papers)
    assert by["0704.0002"].categories == ["math.CO", "cs.CG"]
    assert by["0704.0002"].license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert names(by["0704.0002"]) == ["Ileana Streinu", "Louis Theran"]
    assert by["0704.0064"].version == 5
    assert [(a.name, a.affiliation) for a in by["0704.0031"].authors] == [
        ("V. M. Biryukov", "Serpukhov, IHEP")
    ]
    # "1 and 2" in authors_parsed is an unresolved affiliation marker, not an affiliation.
    assert [a.affiliation for a in by["0704.0025"].authors] == [None, None]


def test_kaggle_malformed_lines() -> None:
    data = b"".join(
        [
            kaggle_line(),
            b'{"id": "2401.00002", "title": "broken\n',
            kaggle_line(id=...),
            kaggle_line(id="12345"),
            b"\n",
            kaggle_line(id="2401.00006", title="  "),
            b"[1, 2]\n",
            kaggle_line(id="math/0501001", versions=..., authors="X. Y (Somewhere)"),
        ]
    )
    papers, refusals = run(kaggle, data, "snap.jsonl")
    assert [p.arxiv_id for p in papers] == ["2401.00001", "math/0501001"]
    first, old = papers
    # Highest vN, not the count nor the last listed.
    assert first.version == 4 and first.title == "A title wrapped" and first.abstract == "Abstract."
    assert (first.submitted_at, first.updated_at) == (
        "Mon, 1 Jan 2024 00:00:00 GMT",
        "Thu, 4 Jan 2024 00:00:00 GMT",
    )
    assert names(first) == ["Ann Lee", "Bo Chen"]  # no authors_parsed: the free text is split
    assert (old.version, old.submitted_at, old.updated_at) == (None, None, "2024-01-04")
    assert names(old) == ["X. Y"]
    assert [(r.position, r.record_id, r.file) for r in refusals] == [
        ("line 2", "2401.00002", "snap.jsonl"),
        ("line 3", None, "snap.jsonl"),
        ("line 4", "12345", "snap.jsonl"),
        ("line 6", "2401.00006", "snap.jsonl"),
        ("line 7", None, "snap.jsonl"),
    ]
    assert "not valid JSON" in refusals[0].reason
    assert "no arXiv id" in refusals[1].reason
    assert "not an arXiv id" in refusals[2].reason
    assert "no title" in refusals[3].reason
    assert "JSON object" in refusals[4].reason


def test_kaggle_streams_line_by_line() -> None:
    class Source:
        """Two good lines, then an error if anything reads further."""

        def __iter__(self) -> Iterator[bytes]:
            yield kaggle_line(id="2401.00001")
            yield kaggle_line(id="2401.00002")
            raise AssertionError("read past the records asked for")

    parsed = kaggle.parse(Source())  # type: ignore[arg-type]
    assert next(parsed).paper.arxiv_id == "2401.00001"
    assert next(parsed).paper.arxiv_id == "2401.00002"
