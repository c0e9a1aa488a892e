"""``GET /api/papers?cursor=&limit=``: every paper, newest first, keyset-paged."""

import base64

import pytest

from dailypapers.ingest.files import import_paths
from tests.helpers import hf_item, write_json

# Newest first: new-style ids by id (the month of first submission, then the number), then
# old-style ids. Featured days are deliberately unrelated to that order.
IDS_NEWEST_FIRST = ["2603.00002", "2603.00001", "2512.10000", "2401.99999", "1501.00001",
                    "0704.0001", "math/0611918", "cs/0112017", "astro-ph/9901001"]


def _link(response):
    link = response.headers.get("link")
    if not link:
        return None
    assert link.endswith('>; rel="next"')
    return link[link.index("<") + 1:link.index(">")]


def _crawl(client, url):
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [p["id"] for p in response.json()]
        url = _link(response)
        pages += 1
    return seen, pages


@pytest.fixture
def loaded(engine, tmp_path):
    days = ["2026-03-02", "2026-03-03", "2026-03-04"]
    items = {d: [] for d in days}
    for n, pid in enumerate(reversed(IDS_NEWEST_FIRST)):
        items[days[n % 3]].append(hf_item(pid, title=f"Paper {pid}", day=days[n % 3]))
    import_paths(engine, [write_json(tmp_path / f"{d}.json", items[d]) for d in days])


def test_every_paper_newest_first_in_pages(client, loaded):
    for limit in (1, 2, 4, 100):
        seen, pages = _crawl(client, f"/api/papers?limit={limit}")
        assert seen == IDS_NEWEST_FIRST, limit
        assert pages == max(1, -(-len(IDS_NEWEST_FIRST) // limit)), limit
    first = client.get("/api/papers").json()
    assert len(first) == len(IDS_NEWEST_FIRST)  # the default page (50) holds them all
    one = next(p for p in first if p["id"] == "2401.99999")
    assert one["title"] == "Paper 2401.99999" and one["submittedOnDailyAt"].startswith("2026-03-0")
    assert one["numComments"] == 2 and one["authors"][0]["name"] == "Ada Lovelace"


def test_inserts_between_pages_neither_repeat_nor_skip(client, loaded, engine, tmp_path):
    first = client.get("/api/papers?limit=3")
    assert [p["id"] for p in first.json()] == IDS_NEWEST_FIRST[:3]
    # New papers arrive: one newer than everything, one inside the part already read, one in
    # the part still to come.
    extra = [hf_item(pid, day="2026-03-05") for pid in ("2700.00001", "2602.00000", "2001.00001")]
    import_paths(engine, [write_json(tmp_path / "2026-03-05.json", extra)])
    rest, _ = _crawl(client, _link(first))
    assert rest == ["2401.99999", "2001.00001", *IDS_NEWEST_FIRST[4:]]


def test_hf_client_can_read_the_listing(live_server, loaded):
    from huggingface_hub.hf_api import PaperInfo
    from huggingface_hub.utils import get_session

    response = get_session().get(f"{live_server.url}/api/papers", params={"limit": 2})
    infos = [PaperInfo(**p) for p in response.json()]
    assert [i.id for i in infos] == IDS_NEWEST_FIRST[:2]
    assert _link(response).startswith(f"{live_server.url}/api/papers?")


def _cursor(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit must be between 1 and 100"),
        ("limit=101", "limit must be between 1 and 100"),
        ("limit=x", "limit must be an integer"),
        ("cursor=%%%", "cursor is not one"),
        ("cursor=" + _cursor("p1:not-an-id"), "cursor is not one"),
        ("cursor=" + _cursor("p1:2401.00001v2"), "cursor is not one"),
        ("cursor=" + _cursor("p9:2401.00001"), "cursor is not one"),
        ("cursor=" + _cursor("p1:2401.00001")[:-1] + "%00", "cursor is not one"),
        ("cursor=" + "A" * 300, "cursor is not one"),
        ("cursor=" + base64.urlsafe_b64encode(b"p1:\xff\xfe").decode(), "cursor is not one"),
    ],
)
def test_bad_cursor_or_limit_is_400_json(client, query, fragment):
    response = client.get(f"/api/papers?{query}")
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_documented_in_openapi(client):
    operation = client.get("/api/openapi.json").json()["paths"]["/api/papers"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 100 and params["limit"]["schema"]["minimum"] == 1
    assert "cursor" in params and "400" in operation["responses"]
