"""The submitter object of a daily item is answered back as Hugging Face sent it."""

import json

from dailypapers.ingest.files import import_paths
from tests.conftest import shared

DAY = "2026-01-23"
VIEWER_RELATIVE = {"isUserFollowing"}  # about whoever asked upstream: not kept


def test_submitted_by_round_trips_every_field(client, engine):
    source = json.loads(shared("hf-daily", f"{DAY}.json").read_text())
    import_paths(engine, [shared("hf-daily", f"{DAY}.json")])
    answer = {item["paper"]["id"]: item for item in client.get(
        f"/api/daily_papers?date={DAY}&limit=100").json()}
    assert len(answer) == len(source)
    checked = 0
    for item in source:
        sent = item.get("submittedBy")
        if not sent:
            continue
        expected = {k: v for k, v in sent.items() if k not in VIEWER_RELATIVE}
        assert answer[item["paper"]["id"]]["submittedBy"] == expected
        checked += "followerCount" in sent and "isHfAdmin" in sent
    assert checked >= 10  # the day's items carry the fields this test is about


def test_passthrough_values_survive_and_reach_paper_info(client, engine, tmp_path):
    from tests.helpers import hf_item, write_json

    item = hf_item("2401.00011", day="2026-03-02")
    item["submittedBy"].update(isHf=True, isHfAdmin=False, isMod=True, followerCount=4321,
                               isUserFollowing=True)
    odd = hf_item("2401.00012", day="2026-03-02")
    odd["submittedBy"].update(isHf="yes", followerCount=-3)  # not what HF sends: left out
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [item, odd])])
    by_id = {i["paper"]["id"]: i for i in client.get("/api/daily_papers?date=2026-03-02").json()}
    sub = by_id["2401.00011"]["submittedBy"]
    assert (sub["isHf"], sub["isHfAdmin"], sub["isMod"], sub["followerCount"]) == (
        True, False, True, 4321)
    assert "isUserFollowing" not in sub
    assert "isHf" not in by_id["2401.00012"]["submittedBy"]
    assert "followerCount" not in by_id["2401.00012"]["submittedBy"]
    info = client.get("/api/papers/2401.00011").json()["submittedOnDailyBy"]
    assert info["user"] == "grace" and info["isMod"] is True and info["followerCount"] == 4321
