"""The four arXiv parsers (OAI-PMH, API Atom, RSS, Kaggle snapshot) and the link finder.

Real samples come from ../shared/data (see its SOURCES.md); malformed input is written inline.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator

import pytest

from dailypapers.ingest import arxiv_atom, arxiv_oai, arxiv_rss, kaggle
from dailypapers.ingest.links import find_links, normalize_github_repo
from dailypapers.ingest.records import (
    SOURCE_ATOM,
    SOURCE_KAGGLE,
    SOURCE_OAI,
    SOURCE_RSS,
    PaperRecord,
    ParsedItem,
    Refusal,
)
from tests.conftest import shared

ATOM_ENTRIES = ("arxiv", "api-atom", "stringologytimes_arxiv_atom_entries.xml")
ATOM_QUERY = ("arxiv", "api-atom", "api_query_20260212T040931Z.xml")
RSS_SAMPLE = ("arxiv", "rss", "rss_arxiv_org_cs.LG+cs.AI+cs.CL+stat.ML_sample.xml")
KAGGLE_HEAD = ("arxiv", "kaggle-snapshot", "arxiv-metadata-oai-snapshot.head.jsonl")


def oai_page(number: int) -> bytes:
    path = shared("arxiv", "oai-pmh-cs-2016", f"listrecords-{number:03d}.xml.gz")
    return gzip.decompress(path.read_bytes())


def run(module, data: bytes, label: str = "sample") -> tuple[list[PaperRecord], list[Refusal]]:
    results = list(module.parse(io.BytesIO(data), file_label=label))
    papers = [r.paper for r in results if isinstance(r, ParsedItem)]
    refusals = [r for r in results if isinstance(r, Refusal)]
    assert len(papers) + len(refusals) == len(results)
    assert all(r.feature is None for r in results if isinstance(r, ParsedItem))
    return papers, refusals


def by_id(papers: Iterable[PaperRecord]) -> dict[str, PaperRecord]:
    return {p.arxiv_id: p for p in papers}


def names(paper: PaperRecord) -> list[str]:
    return [a.name for a in paper.authors or []]


# --- links -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Code is at https://github.com/lh3/ropebwt2.", "https://github.com/lh3/ropebwt2"),
        ("see (http://github.com/luispedro/mahotas)", "https://github.com/luispedro/mahotas"),
        ("at https://www.github.com/a-b/c_d.git, and", "https://github.com/a-b/c_d"),
        (
            "https://github.com/davidecenzato/optimalBWT.git.",
            "https://github.com/davidecenzato/optimalBWT",
        ),
        (
            "https://github.com/robsimmons/agda-lib/tree/focalization",
            "https://github.com/robsimmons/agda-lib",
        ),
        (
            r"\url{https://github.com/daac-tools/daachorse}.",
            "https://github.com/daac-tools/daachorse",
        ),
        (r"\url{https://github.com/foo/bar\_baz}", "https://github.com/foo/bar_baz"),
        ("availability: github.com/Malfoy/BGREAT", "https://github.com/Malfoy/BGREAT"),
        ("http://git@github.com:BEETL/BEETL.git", "https://github.com/BEETL/BEETL"),
        (
            "repo https://github.com/fastfloat/fast_float;",
            "https://github.com/fastfloat/fast_float",
        ),
        ("only an account: https://github.com/someone", None),
        ("https://github.com/orgs/openai/repositories", None),
        ("https://github.com/topics/graphs", None),
        ("no links here, just github mentioned", None),
        ("notgithub.com/a/b is another host", None),
    ],
)
def test_find_links_github_repo(text: str, expected: str | None) -> None:
    assert find_links(text, None)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Project page: https://imatge.upc.edu/web/publications/x.",
            "https://imatge.upc.edu/web/publications/x",
        ),
        ("36 pages. See https://suffixsorting.github.io/", "https://suffixsorting.github.io/"),
        ("demo at mil-tokyo.github.io/.", "https://mil-tokyo.github.io/"),
        (
            "An online demo is available at http://www.f-zhou.com/fg_demo/.",
            "http://www.f-zhou.com/fg_demo/",
        ),
        (
            "our project website (http://www.vo.elte.hu/bitcoin/), with",
            "http://www.vo.elte.hu/bitcoin/",
        ),
        # Journal, conference and plain "website" links are not project pages.
        ("Journal website: http://sites.google.com/site/ijcsis/", None),
        ("Published in JAIR, http://www.jair.org/papers/x.html", None),
        # Never arXiv, DOIs, videos, files or GitHub itself.
        ("Project page: https://arxiv.org/abs/2401.12345", None),
        ("Project page: https://doi.org/10.1000/xyz", None),
        ("Project page: https://github.com/a/b", None),
        ("See the demo video: https://www.youtube.com/watch?v=abc", None),
        ("Project page: http://example.org/paper.pdf", None),
        # GitHub Pages serve HTTPS only; LaTeX line-break hints do not start a URL.
        ("Project page http://ouro-llm.github.io", "https://ouro-llm.github.io"),
        (r"See https://a1b2\allowbreak-dotcom.github.io/x for more", None),
    ],
)
def test_find_links_project_page(text: str, expected: str | None) -> None:
    assert find_links(text, None)[1] == expected


def test_find_links_takes_first_of_each_abstract_before_comments() -> None:
    abstract = (
        "Code: https://github.com/first/one and https://github.com/second/two. "
        "Project page: https://first.github.io/p, https://second.github.io/q"
    )
    comments = "Code at https://github.com/third/three"
    assert find_links(abstract, comments) == (
        "https://github.com/first/one",
        "https://first.github.io/p",
    )
    assert find_links("nothing here", comments) == ("https://github.com/third/three", None)
    assert find_links("Project page https://lab.github.io/x", "https://github.com/o/r") == (
        "https://github.com/o/r",
        "https://lab.github.io/x",
    )
    assert find_links(None, None) == (None, None)
    assert find_links("", "") == (None, None)


def test_normalize_github_repo() -> None:
    assert (
        normalize_github_repo("https://github.com/Owner/Repo/issues/3")
        == "https://github.com/Owner/Repo"
    )
    assert normalize_github_repo("github.com/owner/repo.git") == "https://github.com/owner/repo"
    assert normalize_github_repo("https://gitlab.com/owner/repo") is None
    assert normalize_github_repo("") is None


# --- OAI-PMH ---------------------------------------------------------------------------------


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


# --- Atom ------------------------------------------------------------------------------------


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


# --- RSS -------------------------------------------------------------------------------------


def test_rss_sample_feed() -> None:
    papers, refusals = run(arxiv_rss, shared(*RSS_SAMPLE).read_bytes())
    assert refusals == []
    assert [(p.arxiv_id, p.version) for p in papers] == [
        ("2609.26811", 1),
        ("2609.26820", 1),
        ("2205.06398", 2),
        ("2009.13987", 3),
    ]
    new, second, cross, replace = papers
    assert all(p.source == SOURCE_RSS for p in papers)
    assert new.title == "The Drift Contract: Spectral Updates for Depth-Robust Local Learning"
    assert new.abstract.startswith("Local learning trains each layer with its own auxiliary loss")
    assert "Announce Type" not in new.abstract
    assert names(new) == ["Fabien Polly"]
    assert new.categories == ["cs.LG"]
    assert (new.submitted_at, new.updated_at) == ("Thu, 24 Sep 2026 00:00:00 -0400", None)
    assert new.license == "http://creativecommons.org/licenses/by-nc-sa/4.0/"
    assert names(second) == ["Naser Mansour", "Sidahmed Benabderrahmane", "Ameer Rahwan"]
    assert second.categories == ["cs.LG", "cs.AI"]
    assert cross.doi == "10.1093/bioinformatics/btac431"
    assert (
        cross.categories == ["stat.ME", "stat.AP", "stat.ML"]
        and cross.primary_category == "stat.ME"
    )
    assert (cross.submitted_at, cross.updated_at) == (None, None)
    assert names(cross) == ["Pritam Dey", "Zhengwu Zhang", "David B. Dunson"]
    assert (replace.submitted_at, replace.updated_at) == (None, "Thu, 24 Sep 2026 00:00:00 -0400")
    assert replace.title == "Random Polytope Descriptors"


RSS_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom"
     xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
<channel><title>feed</title>
{items}
</channel></rss>"""


def rss_item(
    guid: str | None,
    title: str | None = "T",
    link: str | None = None,
    creator: str = "A. B",
    head: str = "",
) -> str:
    parts = []
    if title is not None:
        parts.append(f"<title>{title}</title>")
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    parts.append(f"<description>{head}Body\n text.</description>")
    parts.append(f"<dc:creator>{creator}</dc:creator><category>cs.CV</category>")
    return "<item>" + "".join(parts) + "</item>"


def test_rss_malformed_items_and_author_lists() -> None:
    items = [
        rss_item(
            "oai:arXiv.org:2401.00001v2",
            creator="Ann Lee, Bo Chen, and Cy Dee",
            head="arXiv:2401.00001v2 Announce Type: replace-cross \nAbstract: ",
        ),
        rss_item(None),
        rss_item("oai:arXiv.org:nonsense"),
        rss_item("oai:arXiv.org:2401.00004v1", title=None),
        rss_item(
            None,
            title="Old style. (arXiv:2401.00005v1 [cs.CV] UPDATED)",
            link="http://arxiv.org/abs/2401.00005",
            creator="Robert W. Heath, Jr. and Sam Roe",
        ),
        # The guid names the paper; a description head naming another paper gives no version.
        rss_item(
            "oai:arXiv.org:2401.00006", head="arXiv:9999.99999v7 Announce Type: new \nAbstract: "
        ),
        # A guid without a version takes it from the description head of the same paper.
        rss_item(
            "oai:arXiv.org:2401.00007",
            head="arXiv:2401.00007v5 Announce Type: replace \nAbstract: ",
        ),
    ]
    papers, refusals = run(arxiv_rss, RSS_FEED.format(items="\n".join(items)).encode(), "feed.xml")
    assert [(p.arxiv_id, p.version) for p in papers] == [
        ("2401.00001", 2),
        ("2401.00005", None),
        ("2401.00006", None),
        ("2401.00007", 5),
    ]
    assert names(papers[0]) == ["Ann Lee", "Bo Chen", "Cy Dee"]
    assert papers[0].abstract == "Body text."
    assert papers[0].updated_at is None and papers[0].submitted_at is None  # no pubDate
    assert papers[1].title == "Old style."
    assert names(papers[1]) == ["Robert W. Heath, Jr.", "Sam Roe"]
    assert [(r.position, r.record_id) for r in refusals] == [
        ("item 2", None),
        ("item 3", "oai:arXiv.org:nonsense"),
        ("item 4", "2401.00004"),
    ]
    assert "no arXiv id" in refusals[0].reason
    assert "not an arXiv id" in refusals[1].reason
    assert "no title" in refusals[2].reason
    assert all(r.file == "feed.xml" for r in refusals)


def test_rss_id_from_description_when_no_guid_or_link() -> None:
    item = (
        "<item><title>T</title><description>arXiv:2401.07777v4 Announce Type: replace \n"
        "Abstract: x</description></item>"
    )
    papers, refusals = run(arxiv_rss, RSS_FEED.format(items=item).encode())
    assert refusals == [] and [(p.arxiv_id, p.version) for p in papers] == [("2401.07777", 4)]


def test_rss_truncated() -> None:
    data = shared(*RSS_SAMPLE).read_bytes()
    papers, refusals = run(arxiv_rss, data[: data.index(b"Outlier Detection")])
    assert [p.arxiv_id for p in papers] == ["2609.26811", "2609.26820"]
    assert len(refusals) == 1 and "XML broken after 2 item(s)" in refusals[0].reason


def test_split_author_list() -> None:
    split = arxiv_rss.split_author_list
    assert split("A One and B Two") == ["A One", "B Two"]
    assert split("A One, B Two, and C Three") == ["A One", "B Two", "C Three"]
    assert split("A. S. Mishchenko (1 and 2) and N. Nagaosa (1 and 3) ((1) CREST, (2) RRC)") == [
        "A. S. Mishchenko",
        "N. Nagaosa",
    ]
    assert split("Alexander Andersen") == ["Alexander Andersen"]
    assert split("") == []


# --- Kaggle ----------------------------------------------------------------------------------


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


def kaggle_line(**fields) -> bytes:
    base = {
        "id": "2401.00001",
        "authors": "Ann Lee and Bo Chen",
        "title": "A  title\n  wrapped",
        "abstract": "  Abstract.\n",
        "categories": "cs.LG stat.ML",
        "versions": [
            {"version": "v1", "created": "Mon, 1 Jan 2024 00:00:00 GMT"},
            {"version": "v4", "created": "Thu, 4 Jan 2024 00:00:00 GMT"},
            {"version": "v2", "created": "Tue, 2 Jan 2024 00:00:00 GMT"},
        ],
        "update_date": "2024-01-04",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode() + b"\n"


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


# --- sniffing --------------------------------------------------------------------------------


def test_looks_like_tells_the_formats_apart() -> None:
    heads = {
        "oai": oai_page(103)[:4096],
        "atom-feed": shared(*ATOM_QUERY).read_bytes()[:4096],
        "atom-entries": shared(*ATOM_ENTRIES).read_bytes()[:4096],
        "rss": shared(*RSS_SAMPLE).read_bytes()[:4096],
        "kaggle": shared(*KAGGLE_HEAD).read_bytes()[:4096],
        "hf-daily": shared("hf-daily", "2026-03-31.json").read_bytes()[:4096],
        "scifact": shared("scifact", "corpus.jsonl").read_bytes()[:4096],
    }
    expected = {
        arxiv_oai: {"oai"},
        arxiv_atom: {"atom-feed", "atom-entries"},
        arxiv_rss: {"rss"},
        kaggle: {"kaggle"},
    }
    for module, wanted in expected.items():
        assert {name for name, head in heads.items() if module.looks_like(head)} == wanted, (
            module.__name__
        )
    assert kaggle.looks_like(b"\n\n" + kaggle_line())
    assert not kaggle.looks_like(b'{"status": "ok", "data": [{"paper": {"id": "1"}}]}')
