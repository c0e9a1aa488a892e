"""The arXiv RSS parser, and its splitting of free-text author lists.

A real feed comes from ../shared/data (see its SOURCES.md); malformed input is written inline.
"""

from __future__ import annotations

from dailypapers.ingest import arxiv_rss
from dailypapers.ingest.records import SOURCE_RSS
from tests.conftest import shared
from tests.helpers import RSS_SAMPLE, names, run


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
