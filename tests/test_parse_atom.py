"""The arXiv API Atom parser (query feeds and bare entries).

Real samples come from ../shared/data (see its SOURCES.md); malformed input is written inline.
"""

from __future__ import annotations

from dailypapers.ingest import arxiv_atom
from dailypapers.ingest.records import SOURCE_ATOM
from tests.conftest import shared
from tests.helpers import ATOM_ENTRIES, ATOM_QUERY, by_id, names, run


def test_atom_wrapped_entries_with_and_without_namespace() -> None:
    papers, refusals = run(arxiv_atom, shared(*ATOM_ENTRIES).read_bytes())
    assert len(papers) == 2060
    assert refusals == []
    assert all(p.source == SOURCE_ATOM for p in papers)

    first = papers[0]  # the one entry that declares the Atom namespace
    assert (first.arxiv_id, first.version) == ("1910.06169", 1)
    assert (
        first.title
        == "The PGM-index: a multicriteria, compressed and learned approach to data indexing"
    )
    assert names(first) == ["Paolo Ferragina", "Giorgio Vinciguerra"]
    # The ACM class "E.1; E.4; I.2.6" is listed as a category by the API; it is not one.
    assert first.categories == ["cs.DS", "cs.DB", "cs.IR", "cs.LG"]
    assert first.primary_category == "cs.DS"
    assert (first.submitted_at, first.updated_at) == (
        "2019-10-14T14:25:25Z",
        "2019-10-14T14:25:25Z",
    )
    assert first.comments.startswith(
        "We remark to the reader that this paper is an extended and improved version of"
    )

    second = papers[1]  # no namespace declared at all
    assert (second.arxiv_id, second.version) == ("1910.04640", 1)
    assert second.title.startswith("E2FM: an encrypted and compressed full-text index")
    assert names(second) == ["Ferdinando Montecuollo", "Giovannni Schmid", "Roberto Tagliaferri"]
    assert second.doi == "10.1093/bioinformatics/btx313"
    assert second.journal_ref == "Bioinformatics, 33(18), 2017, 2808-2817"
    assert second.categories == ["cs.DB", "cs.DS"] and second.primary_category == "cs.DB"

    by = by_id(papers)
    assert [(a.name, a.affiliation) for a in by["1907.09415"].authors] == [
        ("Ronald de Wolf", "QuSoft, CWI and University of Amsterdam")
    ]
    assert by["2207.13870"].github_repo == "https://github.com/daac-tools/daachorse"
    assert by["2212.01156"].github_repo == "https://github.com/davidecenzato/optimalBWT"
    assert by["1610.08305"].project_page == "https://suffixsorting.github.io/"


def test_atom_api_query_feed() -> None:
    papers, refusals = run(arxiv_atom, shared(*ATOM_QUERY).read_bytes())
    assert refusals == []
    assert [(p.arxiv_id, p.version) for p in papers] == [
        ("1903.02058", 2),
        ("2412.12023", 1),
        ("1706.09868", 1),
    ]
    first = papers[0]
    assert first.title == "Rotatable random sequences in local fields"
    assert (first.submitted_at, first.updated_at) == (
        "2019-03-05T21:16:31Z",
        "2019-05-16T21:02:32Z",
    )
    assert names(first) == ["Steven N. Evans", "Daniel Raban"]
    assert first.categories == ["math.PR"] and first.comments == "13 pages"
    assert papers[2].doi == "10.1103/PhysRevLett.122.024102"
    assert papers[2].categories == ["nlin.CD"]


ATOM_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
<title>arXiv Query</title>
{entries}
</feed>"""


def atom_entry(entry_id: str | None, title: str | None = "A title") -> str:
    id_el = f"<id>{entry_id}</id>" if entry_id is not None else ""
    title_el = f"<title>{title}</title>" if title is not None else ""
    return (
        f"<entry>{id_el}{title_el}<summary>Text.</summary>"
        "<published>2024-01-01T00:00:00Z</published>"
        "<author><name>A. Author</name><arxiv:affiliation>Lab</arxiv:affiliation></author>"
        '<arxiv:primary_category term="cs.CL"/>'
        '<category term="cs.CL"/><category term="68T50"/></entry>'
    )


def test_atom_malformed_entries() -> None:
    entries = [
        atom_entry("http://arxiv.org/abs/2401.00001v3"),
        atom_entry(None),
        atom_entry("http://arxiv.org/abs/garbage"),
        atom_entry("http://arxiv.org/abs/2401.00004v1", title=None),
        atom_entry(
            "http://arxiv.org/api/errors#incorrect_id_format_for_1234.1234v", title="Error"
        ).replace(
            "<summary>Text.</summary>", "<summary>incorrect id format for 1234.1234v</summary>"
        ),
        atom_entry("http://arxiv.org/abs/hep-th/9901001v2"),
    ]
    papers, refusals = run(
        arxiv_atom, ATOM_FEED.format(entries="\n".join(entries)).encode(), "q.xml"
    )
    assert [(p.arxiv_id, p.version) for p in papers] == [("2401.00001", 3), ("hep-th/9901001", 2)]
    assert papers[0].categories == ["cs.CL"] and papers[0].primary_category == "cs.CL"
    assert [(a.name, a.affiliation) for a in papers[0].authors] == [("A. Author", "Lab")]
    assert [(r.position, r.record_id) for r in refusals] == [
        ("entry 2", None),
        ("entry 3", "http://arxiv.org/abs/garbage"),
        ("entry 4", "2401.00004"),
        ("entry 5", "http://arxiv.org/api/errors#incorrect_id_format_for_1234.1234v"),
    ]
    assert refusals[3].reason == "arXiv API error: incorrect id format for 1234.1234v"
    assert all(r.file == "q.xml" for r in refusals)


def test_atom_truncated_file() -> None:
    data = shared(*ATOM_ENTRIES).read_bytes()
    cut = data[: data.index(b"<entry", len(data) // 2) + 200]
    papers, refusals = run(arxiv_atom, cut)
    assert 900 < len(papers) < 2060
    assert len(refusals) == 1 and "XML broken" in refusals[0].reason
    assert refusals[0].position.startswith("line ")
