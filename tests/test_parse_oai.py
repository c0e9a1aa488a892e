"""The arXiv OAI-PMH parser (ListRecords pages).

Real pages come from ../shared/data (see its SOURCES.md); malformed input is written inline.
"""

from __future__ import annotations

from dailypapers.ingest import arxiv_oai
from dailypapers.ingest.records import SOURCE_OAI
from tests.helpers import by_id, names, oai_page, run


def test_oai_first_page_records_and_token() -> None:
    result = arxiv_oai.parse_page(oai_page(1), file_label="listrecords-001.xml")
    assert len(result.items) == 1000
    assert result.refusals == []
    assert result.next_token == "1122234|1001"
    papers = by_id(item.paper for item in result.items)
    assert len(papers) == 1000

    first = result.items[0].paper
    assert first.arxiv_id == "0704.0002" and first.version is None and first.source == SOURCE_OAI
    assert first.title == "Sparsity-certifying Graph Decompositions"
    assert names(first) == ["Ileana Streinu", "Louis Theran"]
    assert first.categories == ["math.CO", "cs.CG"] and first.primary_category == "math.CO"
    assert (first.submitted_at, first.updated_at) == ("2007-03-30", "2008-12-13")
    assert first.comments == "To appear in Graphs and Combinatorics"
    assert first.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert first.abstract.startswith(
        "We describe a new algorithm, the $(k,\\ell)$-pebble game with colors, and use it obtain"
    )
    assert "\n" not in first.abstract and "  " not in first.abstract

    limit = papers["0704.0046"]
    assert limit.doi == "10.1063/1.2779138"
    assert limit.journal_ref == "J. Math. Phys. 48(2007), 092102."
    assert limit.updated_at is None  # one version only: OAI gives no <updated>
    assert names(limit) == ["I. Csiszar", "F. Hiai", "D. Petz"]
    assert limit.categories == ["quant-ph", "cs.IT", "math.IT"]

    # Titles wrapped with newline + two spaces are joined.
    assert papers["0704.0047"].title == (
        "Intelligent location of simultaneously active acoustic emission sources: Part I"
    )
    # keyname "Heath," + suffix "Jr." as arXiv spells it.
    assert names(papers["0704.0802"]) == [
        "Caleb K. Lo",
        "Robert W. Heath, Jr.",
        "Sriram Vishwanath",
    ]
    assert papers["0704.1043"].project_page == "http://www.mathrix.org/experimentalAIT/"


def test_oai_last_page_old_style_ids_and_no_token() -> None:
    data = oai_page(103)
    result = arxiv_oai.parse_page(data)
    assert len(result.items) == 538
    assert result.refusals == []
    assert result.next_token is None  # empty <resumptionToken/> on the last page
    ids = [item.paper.arxiv_id for item in result.items]
    assert all("/" in i for i in ids)
    assert ids[0] == "math/0611918" and ids[-1] == "quant-ph/9912100"
    papers = by_id(item.paper for item in result.items)
    last = papers["quant-ph/9912100"]
    assert last.title == "Quantum Computing, NP-complete Problems and Chaotic Dynamics"
    assert last.categories == [
        "quant-ph",
        "chao-dyn",
        "cond-mat.mes-hall",
        "cs.CC",
        "nlin.CD",
        "physics.atom-ph",
    ]
    assert last.primary_category == "quant-ph"
    assert names(last) == ["Masanori Ohya", "Igor V. Volovich"]
    assert [(a.name, a.affiliation) for a in papers["math/0611937"].authors] == [
        ("Karl Schlechta", "LIF")
    ]

    # parse() over a stream gives the same records as parse_page().
    streamed, refusals = run(arxiv_oai, data)
    assert refusals == []
    assert [p.arxiv_id for p in streamed] == ids
    assert streamed[5] == result.items[5].paper


OAI_HEAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2026-01-01T00:00:00Z</responseDate>
<ListRecords>
"""


def oai_record(oai_id: str | None, body: str, header_extra: str = "") -> str:
    identifier = f"<identifier>oai:arXiv.org:{oai_id}</identifier>" if oai_id else ""
    return (
        f"<record><header{header_extra}>{identifier}<datestamp>2026-01-01</datestamp></header>"
        f'<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/">{body}</arXiv></metadata></record>\n'
    )


def good_oai(arxiv_id: str, title: str = "A good paper") -> str:
    return oai_record(
        arxiv_id,
        f"<id>{arxiv_id}</id><created>2024-01-02</created><authors><author><keyname>Doe</keyname>"
        "</author><author><keyname>Roe</keyname><forenames>Ann</forenames>"
        "<affiliation>MIT</affiliation>"
        f"<affiliation>CMU</affiliation></author></authors><title>{title}</title>"
        "<categories>cs.LG stat.ML</categories>"
        "<abstract>  Code at\n  https://github.com/o/r.\n</abstract>",
    )


def test_oai_malformed_records_are_refused_and_neighbours_kept() -> None:
    page = (
        OAI_HEAD
        + good_oai("2401.00001").encode()
        + oai_record(None, "<title>No id anywhere</title>").encode()
        + oai_record("2401.00003", "<id>not-an-id</id><title>Bad id</title>").encode()
        + oai_record("2401.00004", "<id>2401.00004</id><title>   </title>").encode()
        + b'<record><header status="deleted">'
        + b"<identifier>oai:arXiv.org:2401.00005</identifier></header></record>\n"
        + good_oai("cs/0112017", "Old style").encode()
        + b'<resumptionToken cursor="0">abc|123</resumptionToken></ListRecords></OAI-PMH>'
    )
    result = arxiv_oai.parse_page(page, file_label="page.xml")
    assert [i.paper.arxiv_id for i in result.items] == ["2401.00001", "cs/0112017"]
    assert result.next_token == "abc|123"
    good = result.items[0].paper
    assert names(good) == ["Doe", "Ann Roe"]
    assert [a.affiliation for a in good.authors] == [None, "MIT; CMU"]
    assert good.abstract == "Code at https://github.com/o/r."
    assert good.github_repo == "https://github.com/o/r"
    assert [(r.record_id, r.position, r.file) for r in result.refusals] == [
        (None, "record 2", "page.xml"),
        ("not-an-id", "record 3", "page.xml"),
        ("2401.00004", "record 4", "page.xml"),
        ("oai:arXiv.org:2401.00005", "record 5", "page.xml"),
    ]
    reasons = [r.reason for r in result.refusals]
    assert "no arXiv id" in reasons[0]
    assert "not an arXiv id" in reasons[1]
    assert "no title" in reasons[2]
    assert "deleted" in reasons[3]


def test_oai_falls_back_to_header_identifier() -> None:
    page = (
        OAI_HEAD
        + oai_record("2401.00009", "<title>Header only</title>").encode()
        + b"</ListRecords></OAI-PMH>"
    )
    result = arxiv_oai.parse_page(page)
    assert [i.paper.arxiv_id for i in result.items] == ["2401.00009"]
    assert result.next_token is None


def test_oai_truncated_page_keeps_what_came_before() -> None:
    page = OAI_HEAD + good_oai("2401.00001").encode() + good_oai("2401.00002").encode()
    cut = page + good_oai("2401.00003").encode()[:120]
    papers, refusals = run(arxiv_oai, cut, "cut.xml")
    assert [p.arxiv_id for p in papers] == ["2401.00001", "2401.00002"]
    assert len(refusals) == 1
    assert refusals[0].file == "cut.xml"
    assert refusals[0].position.startswith("line ")
    assert "after 2 record(s)" in refusals[0].reason

    # A real page cut in half: everything before the cut, then the refusal.
    real = oai_page(103)
    papers, refusals = run(arxiv_oai, real[: len(real) // 2])
    assert 200 < len(papers) < 538
    assert len(refusals) == 1 and "XML broken" in refusals[0].reason
    assert arxiv_oai.parse_page(real[: len(real) // 2]).next_token is None


def test_oai_error_answers() -> None:
    empty = (
        b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        b'<error code="noRecordsMatch">nothing</error></OAI-PMH>'
    )
    result = arxiv_oai.parse_page(empty)
    assert (result.items, result.refusals, result.next_token) == ([], [], None)
    bad = empty.replace(b"noRecordsMatch", b"badResumptionToken").replace(
        b"nothing", b"token expired"
    )
    result = arxiv_oai.parse_page(bad)
    assert [r.reason for r in result.refusals] == [
        "OAI-PMH error badResumptionToken: token expired"
    ]
