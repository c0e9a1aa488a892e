"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy.engine import Engine

from dailypapers.db.engine import write_transaction
from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import PaperRecord, ParsedItem, Refusal
from dailypapers.ingest.service import Counts, store_items
from dailypapers.settings import Settings
from tests.conftest import shared

# Real arXiv samples in ../shared/data (see its SOURCES.md), as parts for conftest.shared().
ATOM_ENTRIES = ("arxiv", "api-atom", "stringologytimes_arxiv_atom_entries.xml")
ATOM_QUERY = ("arxiv", "api-atom", "api_query_20260212T040931Z.xml")
RSS_SAMPLE = ("arxiv", "rss", "rss_arxiv_org_cs.LG+cs.AI+cs.CL+stat.ML_sample.xml")
KAGGLE_HEAD = ("arxiv", "kaggle-snapshot", "arxiv-metadata-oai-snapshot.head.jsonl")


def store(engine: Engine, items: list[ParsedItem], **kwargs: Any) -> Counts:
    with write_transaction(engine) as conn:
        return store_items(conn, items, **kwargs)


def parse_hf_file(path: Path) -> tuple[list[ParsedItem], list[Refusal]]:
    with path.open("rb") as stream:
        results = list(hf_daily.parse(stream, file_label=str(path)))
    return (
        [r for r in results if isinstance(r, ParsedItem)],
        [r for r in results if isinstance(r, Refusal)],
    )


def add_voter(engine: Engine, user_id: int = 1, name: str = "voter") -> None:
    """A user with no password (signs in nowhere) whose id votes are cast as."""
    from dailypapers.db.engine import db_now
    from dailypapers.db.schema import users

    with write_transaction(engine) as conn:
        now = db_now(conn)
        conn.execute(users.insert().values(id=user_id, username=name, username_key=name,
                                           password_hash="!", created_at=now,
                                           password_changed_at=now))


def write_json(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload))
    return path


def hf_item(arxiv_id: str, *, title: str = "A title", upvotes: int = 3, day: str = "2026-03-02",
            **paper_extra: Any) -> dict[str, Any]:
    """A daily item shaped like huggingface.co's, for tests that need a controlled record."""
    return {
        "paper": {
            "id": arxiv_id,
            "authors": [{"_id": "a1", "name": "Ada Lovelace", "hidden": False},
                        {"_id": "a2", "name": "Alan Turing", "hidden": False}],
            "publishedAt": f"{day}T10:00:00.000Z",
            "submittedOnDailyAt": f"{day}T12:00:00.000Z",
            "title": title,
            "summary": f"Abstract of {title}.",
            "upvotes": upvotes,
            "discussionId": "d" + arxiv_id.replace(".", ""),
            **paper_extra,
        },
        "publishedAt": f"{day}T09:00:00.000Z",
        "title": title,
        "summary": f"Abstract of {title}.",
        "thumbnail": f"https://example.invalid/{arxiv_id}.png",
        "numComments": 2,
        "submittedBy": {"_id": "u1", "avatarUrl": "/avatars/x.svg", "fullname": "Grace Hopper",
                        "name": "grace", "type": "user", "isPro": False},
        "isAuthorParticipating": False,
    }


class MemoEmbedder:
    """The real embedder, remembering texts it has embedded: tests load the same papers into a
    fresh database many times, and the model is the slow part (~15 texts/s)."""

    _memo: dict[str, Any] = {}

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.calls = 0

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self.calls += 1
            for text, vector in zip(missing, self.inner.embed(missing)):
                self._memo[text] = vector
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, self.dim), "float32")


def search_service(engine: Any, settings: Any) -> Any:
    from dailypapers.index.embedder import get_embedder
    from dailypapers.index.search import SearchService

    return SearchService(engine, settings.data_dir, embedder=MemoEmbedder(get_embedder()))


def paper_ids(engine: Engine) -> set[str]:
    import sqlalchemy as sa

    from dailypapers.db.engine import read_transaction
    from dailypapers.db.schema import papers

    with read_transaction(engine) as conn:
        return set(conn.execute(sa.select(papers.c.id)).scalars())


def oai_page(number: int) -> bytes:
    """A recorded OAI-PMH ListRecords page (shared/data/arxiv/oai-pmh-cs-2016), decompressed."""
    path = shared("arxiv", "oai-pmh-cs-2016", f"listrecords-{number:03d}.xml.gz")
    return gzip.decompress(path.read_bytes())


def run(
    module: ModuleType, data: bytes, label: str = "sample"
) -> tuple[list[PaperRecord], list[Refusal]]:
    """An arXiv parser's ``parse`` over ``data``: the papers and the refusals, in order."""
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


def kaggle_line(**fields: Any) -> bytes:
    """One line of the Kaggle snapshot; a field given as ``...`` is left out."""
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


def demo_database(data_dir: Path) -> tuple[Settings, Engine]:
    """Settings and an engine on a migrated SQLite file in ``data_dir`` holding the bundled demo
    papers: the site the browser tests visit."""
    from dailypapers.db.engine import make_engine
    from dailypapers.db.migrate import upgrade
    from dailypapers.demo import load_demo

    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir}/site.sqlite3")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    load_demo(engine)
    return settings, engine


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 30, 30), pad: int = 0) -> bytes:
    """A real, decodable PNG (one colour); ``pad`` bytes of an ancillary chunk make it larger."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    extra = chunk(b"tEXt", b"pad\x00" + b"x" * pad) if pad else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def watch_page(page: Any, own_origin: str) -> tuple[list[str], list[str]]:
    """(dialogs, outside) of a Playwright page, filled as it runs: every dialog it opens
    (dismissed, so the run goes on) and every request to anywhere but ``own_origin`` (data:
    and about: aside). Both stay empty on a page that renders hostile text inert."""
    dialogs: list[str] = []
    outside: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("request", lambda req: outside.append(req.url)
            if not req.url.startswith((own_origin, "data:", "about:")) else None)
    return dialogs, outside
