"""Embeddings: real model, stored once per text and model, caught up by watermark, exact search."""

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import paper_embeddings, papers
from dailypapers.demo import remove_demo
from dailypapers.index.embedder import document_text, get_embedder
from dailypapers.index.vectors import VectorIndex, embed_pending
from dailypapers.ingest import hf_daily
from tests.helpers import hf_item, store

TOPICS = {
    "2603.00101": ("Low-rank adapters for language models", "We fine-tune large language models with low-rank adapter matrices."),
    "2603.00102": ("Diffusion models for image synthesis", "A denoising diffusion model generates photorealistic images."),
    "2603.00103": ("Protein structure prediction", "We predict protein folding and 3D structure from amino acid sequences."),
}


@pytest.fixture(scope="module")
def embedder():
    return get_embedder("minilm-int8")


def _load(engine, demo=False):
    items = []
    for pid, (title, abstract) in TOPICS.items():
        item = hf_item(pid, title=title)
        item["paper"]["summary"] = abstract
        items.extend(hf_daily.parse_items([item], day=dt.date(2026, 3, 2)))
    store(engine, items, demo=demo)


def test_embedder_matches_the_recipe(embedder):
    vectors = embedder.embed([document_text(*TOPICS["2603.00101"]), "protein folding"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_once_catch_up_and_search(engine, embedder):
    _load(engine)
    assert embed_pending(engine, embedder) == 3
    assert embed_pending(engine, embedder) == 0  # nothing twice for unchanged text
    index = VectorIndex(embedder.name, embedder.dim)
    with read_transaction(engine) as conn:
        assert index.catch_up(conn) == 3
    query = embedder.embed(["how do proteins fold"])[0]
    assert index.search(query, 1)[0][0] == "2603.00103"
    similar = [pid for pid, _ in index.search(index.vector_of("2603.00101"), 2, exclude={"2603.00101"})]
    assert len(similar) == 2 and "2603.00101" not in similar

    # An upvote refresh changes the row but not the text: no new vector.
    item = hf_item("2603.00101", title=TOPICS["2603.00101"][0], upvotes=99)
    item["paper"]["summary"] = TOPICS["2603.00101"][1]
    store(engine, list(hf_daily.parse_items([item], day=dt.date(2026, 3, 2))))
    assert embed_pending(engine, embedder) == 0
    # A new abstract is embedded again, and the index catches up by watermark.
    with write_transaction(engine) as conn:
        conn.execute(papers.update().where(papers.c.id == "2603.00102").values(
            abstract="Proteins fold into three-dimensional structures.",
            row_updated_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)))
    assert embed_pending(engine, embedder) == 1
    with read_transaction(engine) as conn:
        assert index.catch_up(conn) == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar() == 3
    assert len(index) == 3
    top_two = {pid for pid, _ in index.search(query, 2)}
    assert top_two == {"2603.00102", "2603.00103"}


def test_index_reloads_after_rows_are_deleted(engine, embedder):
    _load(engine, demo=True)
    embed_pending(engine, embedder)
    index = VectorIndex(embedder.name, embedder.dim)
    with read_transaction(engine) as conn:
        index.catch_up(conn)
    with write_transaction(engine) as conn:
        remove_demo(conn)
    with read_transaction(engine) as conn:
        index.catch_up(conn)
    assert len(index) == 0 and index.search(np.ones(384, dtype=np.float32), 3) == []
