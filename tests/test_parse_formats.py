"""Format sniffing: each arXiv parser's ``looks_like`` knows its own format's head from the
others' (the importer picks a parser by it, see dailypapers/ingest/files.py).

Real samples come from ../shared/data (see its SOURCES.md).
"""

from __future__ import annotations

from dailypapers.ingest import arxiv_atom, arxiv_oai, arxiv_rss, kaggle
from tests.conftest import shared
from tests.helpers import ATOM_ENTRIES, ATOM_QUERY, KAGGLE_HEAD, RSS_SAMPLE, kaggle_line, oai_page


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
