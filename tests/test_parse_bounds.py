"""The XML parsers free every element they pass and refuse a page beyond the limits of
``ingest/xml_stream.py`` where it goes wrong, keeping the records before it."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dailypapers.ingest import arxiv_atom, arxiv_oai, arxiv_rss, xml_stream
from dailypapers.ingest.records import ParsedItem, Refusal
from tests.conftest import REPO

OAI_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>\n')
OAI_TAIL = b"<resumptionToken>next|1</resumptionToken></ListRecords></OAI-PMH>"


def oai_record(arxiv_id: str, inner: bytes = b"") -> bytes:
    return (b"<record><header><identifier>oai:arXiv.org:" + arxiv_id.encode()
            + b"</identifier></header><metadata><arXiv xmlns=\"http://arxiv.org/OAI/arXiv/\"><id>"
            + arxiv_id.encode() + b"</id><title>Paper " + arxiv_id.encode() + b"</title>"
            + inner + b"</arXiv></metadata></record>\n")


def oai_page(junk: bytes = b"", inner: bytes = b"") -> bytes:
    """Record 0704.0001, then the junk (or a record holding ``inner``), then record 0704.0003."""
    middle = oai_record("0704.0002", inner) if inner else junk
    return OAI_HEAD + oai_record("0704.0001") + middle + oai_record("0704.0003") + OAI_TAIL


def parse(module, data: bytes) -> tuple[list[str], list[Refusal]]:  # type: ignore[no-untyped-def]
    out = list(module.parse(io.BytesIO(data), file_label="page.xml"))
    return ([o.paper.arxiv_id for o in out if isinstance(o, ParsedItem)],
            [o for o in out if isinstance(o, Refusal)])


@pytest.mark.parametrize("page, reason", [
    (oai_page(junk=b"<x/>" * 200_000), "more than 10,000 elements outside records"),
    (oai_page(junk=b"<junk>" + b"<x/>" * 200_000 + b"</junk>"),
     "more than 10,000 elements outside records"),
    (oai_page(inner=b"<x/>" * 200_000), "more than 100,000 elements in one record"),
    (oai_page(inner=b"<x>" * 100 + b"</x>" * 100), "elements nested more than 64 deep"),
    (oai_page(junk=b"<x>" * 100 + b"</x>" * 100), "elements nested more than 64 deep"),
])
def test_an_oai_page_beyond_the_limits_is_refused_where_it_goes_wrong(page, reason):
    ids, refusals = parse(arxiv_oai, page)
    assert ids == ["0704.0001"]  # kept; nothing after the point of refusal
    (refusal,) = refusals
    assert refusal.reason == f"page refused after 1 record(s): {reason}"
    assert refusal.file == "page.xml" and refusal.position == "line 4"  # where the junk starts
    live = arxiv_oai.parse_page(page)  # the sync's path: same refusal, no next page
    assert [r.reason for r in live.refusals] == [refusal.reason] and live.next_token is None


@pytest.mark.parametrize("extra", [0, 1])
def test_a_page_at_the_limits_is_read_whole_and_one_more_is_refused(extra):
    # The record's own 7 elements, <x/>s, then <y>s nested to the depth limit (<arXiv> is at 5).
    nested = xml_stream.MAX_DEPTH - 5
    inner = b"<x/>" * (xml_stream.MAX_RECORD_ELEMENTS - 7 - nested + extra)
    page = oai_page(inner=inner + b"<y>" * nested + b"</y>" * nested)
    ids, refusals = parse(arxiv_oai, page)
    if extra:
        assert ids == ["0704.0001"] and len(refusals) == 1
    else:
        assert (ids, refusals) == (["0704.0001", "0704.0002", "0704.0003"], [])
    deeper = oai_page(inner=b"<y>" * (nested + extra) + b"</y>" * (nested + extra))
    assert len(parse(arxiv_oai, deeper)[0]) == (1 if extra else 3)


def test_a_page_with_a_doctype_is_refused_before_any_entity_is_seen():
    page = OAI_HEAD.replace(
        b"<OAI-PMH", b'<!DOCTYPE OAI-PMH [<!ENTITY e "boom">]>\n<OAI-PMH'
    ) + oai_record("0704.0001", b"<comments>&e;&e;&e;</comments>") + OAI_TAIL
    ids, refusals = parse(arxiv_oai, page)
    assert ids == []
    assert [r.reason for r in refusals] == [
        "page refused after 0 record(s): the page declares a DOCTYPE (arXiv sends none)"]


@pytest.mark.parametrize("module, page, reason", [
    (arxiv_atom,
     b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/abs/2401.00001v1'
     b"</id><title>A</title></entry>" + b"<x/>" * 20_000 + b"</feed>",
     "file refused after 1 entry: more than 10,000 elements outside records"),
    (arxiv_rss,
     b"<rss><channel><item><guid>oai:arXiv.org:2401.00001v1</guid><title>A</title></item>"
     + b"<x/>" * 20_000 + b"</channel></rss>",
     "feed refused after 1 item(s): more than 10,000 elements outside records"),
])
def test_atom_and_rss_files_beyond_the_limits_are_refused(module, page, reason):
    ids, refusals = parse(module, page)
    assert ids == ["2401.00001"]
    assert [r.reason for r in refusals] == [reason]


@pytest.mark.parametrize("junk", [b"<x/>" * 50_000, b"<j>" + b"<x>t</x>" * 50_000 + b"</j>"])
def test_every_element_passed_is_freed(monkeypatch, junk):
    """With the limits out of the way, junk between records is gone from the tree by the time
    the next record is handed out: memory does not grow with it."""
    monkeypatch.setattr(xml_stream, "MAX_OUTSIDE_ELEMENTS", 10**9)
    seen = []
    for element in xml_stream.stream_elements(
        io.BytesIO(oai_page(junk=junk)), frozenset({arxiv_oai._RECORD})
    ):
        root = element.getroottree().getroot()
        seen.append(sum(1 for _ in root.iter()) - sum(1 for _ in element.iter()))
    # After the junk: the root, <ListRecords>, at most one emptied sibling (and the resumption
    # token lxml may have read ahead). Before it, lxml's read-ahead (a few thousand elements).
    assert len(seen) == 2 and seen[-1] <= 4


MEASURE = textwrap.dedent("""
    import gzip, resource, sys
    from dailypapers.db.engine import make_engine
    from dailypapers.db.migrate import upgrade
    from dailypapers.ingest.files import import_paths

    engine = make_engine(sys.argv[2])
    upgrade(engine)
    _, counts = import_paths(engine, [sys.argv[1]])
    print(counts.inserted, counts.refused)
    for refusal in counts.refusal_list:
        print(refusal.reason)
    # Our own peak from /proc (ru_maxrss would carry over the forking pytest's across exec),
    # the parsing child's from getrusage once it is reaped.
    own = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
    print((own + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) // 1024)
""")


def test_importing_five_million_junk_elements_stays_small(tmp_path: Path):
    """The 19 KB gzip of 5M empty elements that took ~650 MB: refused, parent + child < 200 MB."""
    path = tmp_path / "junk.xml.gz"
    with gzip.open(path, "wb", compresslevel=9) as gz:
        gz.write(OAI_HEAD + oai_record("0704.0001"))
        for _ in range(50):
            gz.write(b"<x/>" * 100_000)
        gz.write(oai_record("0704.0003") + OAI_TAIL)
    assert path.stat().st_size < 25_000
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), f"sqlite:///{tmp_path / 'db.sqlite3'}"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    counts, reason, peak = result.stdout.splitlines()
    assert counts == "1 1"
    assert "more than 10,000 elements outside records" in reason
    assert int(peak) < 200, f"parent + child peak RSS {peak} MB"
