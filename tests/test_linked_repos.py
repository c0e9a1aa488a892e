"""Linked models, datasets and Spaces: the paper-info answer as an import format, stored as rows,
served in paper_info's shape, shown on the paper page and in its Markdown."""

import copy
import json
from pathlib import Path

import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import read_transaction
from dailypapers.db.schema import feature_days, linked_repos, papers
from dailypapers.ingest.files import import_paths, sniff
from dailypapers.ingest.records import SOURCE_ATOM, PaperRecord, ParsedItem
from tests.conftest import shared
from tests.helpers import store, write_json

ANSWER = Path(__file__).parent / "data" / "hf-paper-info" / "2601.15621.json"
PID = "2601.15621"


def _answer():
    return json.loads(ANSWER.read_text())


@pytest.fixture
def featured(engine):
    import_paths(engine, [shared("hf-daily", "2026-01-23.json")])


def _import(engine, tmp_path, body, name="answer.json"):
    return import_paths(engine, [write_json(tmp_path / name, body)])[1]


def test_the_recorded_answer_is_sniffed_and_served_in_paper_infos_shape(client, engine, featured):
    assert sniff(ANSWER) == "hf-paper-info"
    assert client.get(f"/api/papers/{PID}").json()["linkedModels"] == []  # nothing known yet
    counts = import_paths(engine, [ANSWER])[1]
    assert (counts.inserted, counts.updated, counts.refused) == (0, 1, 0)
    body = client.get(f"/api/papers/{PID}").json()
    sent = _answer()
    assert [m["id"] for m in body["linkedModels"]] == [m["id"] for m in sent["linkedModels"]]
    first = body["linkedModels"][0]
    expected = sent["linkedModels"][0]
    assert first == {"id": expected["id"], "author": expected["author"], "likes": expected["likes"],
                     "downloads": expected["downloads"], "lastModified": expected["lastModified"]}
    assert body["numTotalModels"] == 23 and body["numTotalDatasets"] == 0
    assert body["linkedDatasets"] == []
    assert [s["id"] for s in body["linkedSpaces"]] == ["Qwen/Qwen3-TTS-Demo", "akhaliq/Qwen3-TTS"]
    assert "downloads" not in body["linkedSpaces"][0] and body["linkedSpaces"][0]["likes"] == 389
    # The paper itself is unchanged by an answer that agrees with the daily item.
    assert body["title"] == sent["title"] and body["upvotes"] == sent["upvotes"]


def test_reimport_is_unchanged_and_a_new_answer_replaces_the_lists(client, engine, featured, tmp_path):
    import_paths(engine, [ANSWER])
    again = import_paths(engine, [ANSWER])[1]
    assert (again.updated, again.unchanged) == (0, 1)
    newer = _answer()
    newer["linkedModels"] = [dict(newer["linkedModels"][2], likes=999)]
    newer["numTotalModels"] = 1
    newer["linkedSpaces"] = []
    newer["linkedDatasets"] = [{"id": "someone/tts-eval", "author": "someone", "likes": 3,
                                "downloads": 40, "lastModified": "2026-02-01T00:00:00.000Z"}]
    newer["numTotalDatasets"] = 1
    counts = _import(engine, tmp_path, newer)
    assert (counts.updated, counts.unchanged) == (1, 0)
    body = client.get(f"/api/papers/{PID}").json()
    assert [(m["id"], m["likes"]) for m in body["linkedModels"]] == [
        ("Qwen/Qwen3-TTS-12Hz-0.6B-Base", 999)]
    assert (body["numTotalModels"], body["numTotalDatasets"], body["linkedSpaces"]) == (1, 1, [])
    assert body["linkedDatasets"][0]["id"] == "someone/tts-eval"
    with read_transaction(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(linked_repos)).scalar() == 2


def test_an_answer_without_linked_keys_keeps_what_is_stored(client, engine, featured, tmp_path):
    import_paths(engine, [ANSWER])
    bare = {k: v for k, v in _answer().items() if not k.startswith(("linked", "numTotal"))}
    _import(engine, tmp_path, bare)
    assert len(client.get(f"/api/papers/{PID}").json()["linkedModels"]) == 5


def test_paper_fields_never_overwrite_arxiv_text_and_unfeatured_makes_no_day(client, engine, tmp_path):
    store(engine, [ParsedItem(PaperRecord(arxiv_id=PID, source=SOURCE_ATOM, version=2,
                                          title="The arXiv title", abstract="The arXiv abstract."))])
    answer = _answer()
    del answer["submittedOnDailyAt"]
    counts = _import(engine, tmp_path, answer)
    assert counts.refused == 0
    body = client.get(f"/api/papers/{PID}").json()
    assert body["title"] == "The arXiv title" and body["summary"] == "The arXiv abstract."
    assert body["ai_summary"] == answer["ai_summary"] and body["upvotes"] == answer["upvotes"]
    assert len(body["linkedModels"]) == 5
    with read_transaction(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(feature_days)).scalar() == 0
        assert conn.execute(sa.select(papers.c.sources)).scalar() == "arxiv-atom,hf"


def test_bad_entries_are_refused_one_by_one(client, engine, featured, tmp_path):
    answer = _answer()
    good = answer["linkedModels"][0]
    answer["linkedModels"] = [
        good, {"id": "../../etc/passwd"}, "Qwen/not-an-object", {"id": "a/<script>"},
        dict(good, likes=-1), {"id": "x/y", "likes": 2**40, "downloads": "many",
                               "author": "a\x00b", "lastModified": "z" * 500}, {"no": "id"},
    ]
    answer["numTotalModels"] = "lots"
    counts = _import(engine, tmp_path, answer)
    assert counts.updated == 1 and counts.refused == 5
    with read_transaction(engine) as conn:
        from dailypapers.db.schema import refusals

        positions = sorted(conn.execute(sa.select(refusals.c.position)).scalars())
    assert positions == ["linkedModels[1]", "linkedModels[2]", "linkedModels[3]",
                         "linkedModels[6]", "numTotalModels"]
    body = client.get(f"/api/papers/{PID}").json()
    # The duplicate of the first entry is dropped; odd values are left out, never stored.
    assert body["linkedModels"] == [
        {"id": good["id"], "author": good["author"], "likes": good["likes"],
         "downloads": good["downloads"], "lastModified": good["lastModified"]},
        {"id": "x/y"},
    ]
    assert body["numTotalModels"] == 2  # upstream's total unreadable: our count


def test_a_paper_info_for_an_unknown_paper_creates_it(client, engine, tmp_path):
    answer = copy.deepcopy(_answer())
    counts = _import(engine, tmp_path, answer)
    assert counts.inserted == 1
    days = client.get("/api/daily_papers?date=2026-01-23").json()
    assert [d["paper"]["id"] for d in days] == [PID]
    assert days[0]["submittedBy"]["name"] == answer["submittedOnDailyBy"]["user"]


def test_paper_page_and_markdown_show_the_most_liked_first(client, engine, featured):
    import_paths(engine, [ANSWER])
    doc = lxml.html.fromstring(client.get(f"/papers/{PID}").text)
    models = doc.cssselect("section.linked-model")[0]
    assert models.cssselect("h2")[0].text_content().split() == [
        "Models", "citing", "this", "paper", "23"]
    links = [a.get("href") for a in models.cssselect("li a")]
    by_likes = sorted(_answer()["linkedModels"], key=lambda m: -m["likes"])
    assert links == [f"https://huggingface.co/{m['id']}" for m in by_likes]
    spaces = [a.get("href") for a in doc.cssselect("section.linked-space li a")]
    assert spaces == ["https://huggingface.co/spaces/Qwen/Qwen3-TTS-Demo",
                      "https://huggingface.co/spaces/akhaliq/Qwen3-TTS"]
    assert not doc.cssselect("section.linked-dataset")  # none, and a total of 0
    text = client.get(f"/papers/{PID}.md").text
    assert "## Models citing this paper (23)" in text
    assert text.index("Qwen3-TTS-12Hz-1.7B-Base>") < text.index("Qwen3-TTS-12Hz-0.6B-Base>")
    assert ("- [Qwen/Qwen3-TTS-12Hz-1.7B-Base](<https://huggingface.co/Qwen/Qwen3-TTS-12Hz-1.7B-Base>)"
            " · 812 likes, 402113 downloads") in text
    assert "## Spaces citing this paper (2)" in text


def test_hf_client_paper_info_reads_linked_repos(live_server, engine, featured):
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import ModelInfo, SpaceInfo

    import_paths(engine, [ANSWER])
    info = HfApi(endpoint=live_server.url).paper_info(PID)
    assert all(isinstance(m, ModelInfo) for m in info.linked_models)
    assert [(m.id, m.likes, m.downloads) for m in info.linked_models][0] == (
        "Qwen/Qwen3-TTS-12Hz-1.7B-Base", 812, 402113)
    assert info.linked_models[0].last_modified.year == 2026
    assert info.num_total_models == 23 and info.num_total_datasets == 0
    assert info.linked_datasets == [] and all(isinstance(s, SpaceInfo) for s in info.linked_spaces)
