"""The Hugging Face daily-papers parser, on real recorded answers and on broken ones."""

import datetime as dt
import json

from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import ParsedItem, Refusal
from tests.conftest import shared
from tests.helpers import hf_item, parse_hf_file, write_json


def test_recent_answer_fields_and_feature_day():
    path = shared("hf-daily", "2026-03-31.json")
    raw = json.loads(path.read_text())
    items, refusals = parse_hf_file(path)
    assert refusals == []
    assert len(items) == len(raw)
    first = items[0]
    src = raw[0]
    assert first.paper.arxiv_id == src["paper"]["id"]
    assert first.paper.title == src["paper"]["title"]
    assert [a.name for a in first.paper.authors] == [a["name"] for a in src["paper"]["authors"]]
    assert first.paper.hf_published_at == src["paper"]["publishedAt"]  # kept exactly
    assert first.paper.upvotes == src["paper"]["upvotes"]
    assert first.paper.ai_keywords == src["paper"]["ai_keywords"]
    assert first.feature.day == dt.date(2026, 3, 31)
    assert first.feature.published_at == src["publishedAt"]
    assert first.feature.submitted_by.username == src["submittedBy"]["name"]
    assert first.feature.num_comments == src["numComments"]


def test_python_repr_items_are_read():
    items, refusals = parse_hf_file(shared("hf-daily", "2024-12-12.json"))
    assert refusals == []
    assert items and all(i.paper.title for i in items)
    assert all(i.feature.day == dt.date(2024, 12, 12) for i in items)


def test_wrapped_answer_takes_its_date():
    path = shared("hf-daily", "2025-01-10.json")
    wrapper = json.loads(path.read_text())
    items, refusals = parse_hf_file(path)
    assert refusals == []
    assert len(items) == wrapper["count"]
    assert {i.feature.day for i in items} == {dt.date(2025, 1, 10)}


def test_old_items_without_submitted_on_daily_at_use_the_file_day():
    path = shared("hf-daily", "2024-05-27.json")
    raw = json.loads(path.read_text())
    assert not any("submittedOnDailyAt" in item["paper"] for item in raw)
    items, refusals = parse_hf_file(path)
    assert refusals == []
    assert {i.feature.day for i in items} == {dt.date(2024, 5, 27)}
    # This era names the thumbnail ``mediaUrl`` (one string).
    assert [i.paper.thumbnail for i in items] == [r["mediaUrl"] for r in raw]


def test_malformed_items_are_refused_and_the_rest_lands(tmp_path):
    good = hf_item("2603.00001", title="Good one")
    bad_id = hf_item("not-an-id", title="Bad id")
    no_title = hf_item("2603.00003", title="")
    no_title["title"] = ""
    bad_votes = hf_item("2603.00004", upvotes="many")  # type: ignore[arg-type]
    path = write_json(tmp_path / "2026-03-02.json",
                      [good, bad_id, "{'broken': ", 42, no_title, bad_votes, {"paper": None}])
    with path.open("rb") as stream:
        results = list(hf_daily.parse(stream, file_label=str(path)))
    items = [r for r in results if isinstance(r, ParsedItem)]
    refusals = [r for r in results if isinstance(r, Refusal)]
    assert [i.paper.arxiv_id for i in items] == ["2603.00001"]
    by_position = {r.position: r for r in refusals}
    assert set(by_position) == {"item 1", "item 2", "item 3", "item 4", "item 5", "item 6"}
    assert by_position["item 1"].record_id == "not-an-id"
    assert "not an arXiv identifier" in by_position["item 1"].reason
    assert by_position["item 4"].record_id == "2603.00003" and "title" in by_position["item 4"].reason
    assert by_position["item 5"].record_id == "2603.00004" and "upvotes" in by_position["item 5"].reason
    assert all(r.file == str(path) for r in refusals)


def test_truncated_answer_is_refused_whole(tmp_path):
    path = tmp_path / "2026-03-02.json"
    path.write_text(json.dumps([hf_item("2603.00001")])[:-40])
    with path.open("rb") as stream:
        results = list(hf_daily.parse(stream, file_label=str(path)))
    assert len(results) == 1 and isinstance(results[0], Refusal)
    assert "not valid JSON" in results[0].reason


def test_links_found_in_abstract_when_hf_gives_none(tmp_path):
    item = hf_item("2603.00005")
    item["paper"]["summary"] = "Code is at https://github.com/acme/widget. More soon."
    items = list(hf_daily.parse_items([item], day=dt.date(2026, 3, 2)))
    assert items[0].paper.github_repo == "https://github.com/acme/widget"
