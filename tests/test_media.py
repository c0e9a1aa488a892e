"""Thumbnails and organisation avatars: fetched once from the (fake, loopback) upstream into
<data_dir>/media/, refused one by one when hostile, served from /media/ and shown on pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import struct
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.db.engine import read_transaction
from dailypapers.db.schema import media
from dailypapers.ingest import hf_daily
from dailypapers.ingest.media import (
    MAX_SIDE, NotAnImage, check_image, fetch_media, media_dir, private_host, sniff, store,
)
from dailypapers.settings import Settings
from dailypapers.sync.http import PoliteClient, Refused
from dailypapers.sync.runner import run_sync
from dailypapers.web.app import create_app
from tests.fake_upstream import HF_PATH, FakeUpstream
from tests.helpers import hf_item, png, store as store_items, write_json

DAY = "2026-03-02"


GIF_3x2 = b"GIF89a" + struct.pack("<HH", 3, 2) + b"\x00\x00\x00" + b";"
# SOI, an APP0 (JFIF) segment to step over, then SOF0 with height 7, width 9.
JPEG_9x7 = (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 7, 9) + b"\x03" + b"\x00" * 9)
# A lossless WebP header: 14 bits width-1, 14 bits height-1 after the 0x2F signature.
WEBP_5x4 = (b"RIFF" + struct.pack("<I", 30) + b"WEBP" + b"VP8L" + struct.pack("<I", 10)
            + b"\x2f" + struct.pack("<I", (5 - 1) | ((4 - 1) << 14)) + b"\x00" * 5)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="9" height="9"/></svg>'
HTML = b"<!doctype html><script>alert(1)</script>"


def test_the_first_bytes_say_the_format_and_size() -> None:
    assert sniff(png(4, 3)) == ("png", 4, 3)
    assert sniff(GIF_3x2) == ("gif", 3, 2)
    assert sniff(JPEG_9x7) == ("jpg", 9, 7)
    assert sniff(WEBP_5x4) == ("webp", 5, 4)
    for hostile in (SVG, HTML, b"", b"\x89PNG\r\n\x1a\n", b"GIF89a"):
        with pytest.raises(NotAnImage):
            sniff(hostile)
    with pytest.raises(NotAnImage, match="pixels"):  # a decompression bomb's header
        sniff(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", MAX_SIDE + 1, 10))
    # The header must name an allowed type too, and the bytes decide which one is stored.
    assert check_image(GIF_3x2, "image/png") == ("gif", 3, 2)
    for content_type in ("image/svg+xml", "text/html", "", "application/octet-stream"):
        with pytest.raises(NotAnImage, match="Content-Type"):
            check_image(png(2, 2), content_type)
    with pytest.raises(NotAnImage, match="first bytes"):
        check_image(HTML, "image/png")


def test_store_names_files_by_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    body = png(2, 2)
    name = store(tmp_path / "media", body, "png")
    assert name == hashlib.sha256(body).hexdigest() + ".png"
    assert (tmp_path / "media" / name).read_bytes() == body
    assert store(tmp_path / "media", body, "png") == name  # the same bytes: the same file
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == [name]


# --- fetch, refuse, serve, show ---------------------------------------------------------------


GOOD = png(40, 30)
AVATAR = png(16, 16, (10, 120, 10))
MOVED = png(20, 10, (10, 10, 200))
HOSTILE = {  # paper id -> (what the fake answers, a word the refusal must name)
    "2603.00002": ("svg", "image/svg+xml"),
    "2603.00003": ("html as png", "first bytes"),
    "2603.00004": ("oversize", "3,090 bytes declared, more than the 2,000 bytes allowed"),
    "2603.00005": ("redirect to javascript:", "not http(s)"),
    "2603.00006": ("404", "HTTP 404"),
    "2603.00007": ("redirect to file:", "not http(s)"),
    "2603.00010": ("oversize, no Content-Length", "drip.png: more than the 2,000 bytes allowed"),
}


def serve_images(fake: FakeUpstream) -> dict[str, str]:
    """Images at the fake upstream; each paper id's thumbnail URL."""
    fake.images["/thumbs/good.png"] = ("image/png", GOOD)
    fake.images["/avatars/acme.png"] = ("image/png; charset=binary", AVATAR)
    fake.images["/thumbs/moved.png"] = ("image/png", MOVED)
    fake.redirects["/thumbs/old.png"] = "/thumbs/moved.png"  # relative: resolved on the URL
    fake.images["/thumbs/x.svg"] = ("image/svg+xml", SVG)
    fake.images["/thumbs/page.png"] = ("image/png", HTML)
    fake.images["/thumbs/big.png"] = ("image/png", png(8, 8, pad=3000))
    fake.images["/thumbs/drip.png"] = ("image/png", png(8, 8, pad=3000))
    fake.unsized.add("/thumbs/drip.png")  # only the count of bytes read can stop it
    fake.redirects["/thumbs/js.png"] = "javascript:alert(1)"
    fake.redirects["/thumbs/file.png"] = "file:///etc/passwd"
    paths = {"2603.00001": "/thumbs/good.png", "2603.00002": "/thumbs/x.svg",
             "2603.00003": "/thumbs/page.png", "2603.00004": "/thumbs/big.png",
             "2603.00005": "/thumbs/js.png", "2603.00006": "/thumbs/missing.png",
             "2603.00007": "/thumbs/file.png", "2603.00008": "/thumbs/old.png",
             "2603.00010": "/thumbs/drip.png"}
    return {pid: fake.url + path for pid, path in paths.items()}


def items(thumbs: dict[str, str], fake: FakeUpstream) -> list[dict]:
    out = []
    for pid, url in thumbs.items():
        item = hf_item(pid, title=f"Paper {pid}", day=DAY)
        item["thumbnail"] = url
        if pid == "2603.00001":
            item["organization"] = {"_id": "o1", "name": "acme", "fullname": "Acme Lab",
                                    "avatar": fake.url + "/avatars/acme.png"}
        out.append(item)
    out.append(hf_item("2603.00009", title="Paper without pictures", day=DAY, ))
    out[-1]["thumbnail"] = None
    return out


def media_settings(settings: Settings, **extra: object) -> Settings:
    return settings.model_copy(update={
        "media_fetch_max": 50, "media_min_interval_seconds": 0.0, "media_max_bytes": 2000,
        "media_timeout_seconds": 5.0, "sync_backoff_seconds": 0.01,
        "media_allow_private_hosts": True, **extra})  # the fake upstream is on 127.0.0.1


def load(engine: sa.Engine, tmp_path: Path, payload: list[dict]) -> None:
    path = write_json(tmp_path / f"{DAY}.json", payload)
    with path.open("rb") as stream:
        parsed = [r for r in hf_daily.parse(stream, file_label=str(path)) if not hasattr(r, "reason")]
    store_items(engine, parsed)


def rows(engine: sa.Engine) -> dict[str, dict]:
    with read_transaction(engine) as conn:
        return {r["url"]: dict(r) for r in conn.execute(sa.select(media)).mappings()}


def test_fetch_once_refuse_the_hostile_alone_serve_and_show(
    settings: Settings, engine: sa.Engine, tmp_path: Path,
) -> None:
    cfg = media_settings(settings)
    leftover = media_dir(cfg) / ".fetching-crashed"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half an image")
    with FakeUpstream(tmp_path, atom_files=[], oai_pages=0) as fake:
        thumbs = serve_images(fake)
        load(engine, tmp_path, items(thumbs, fake))
        lines: list[str] = []
        counts = fetch_media(cfg, engine, log=lines.append)
        sent = len(fake.requests)
        again = fetch_media(cfg, engine, log=lines.append)
        assert len(fake.requests) == sent  # once: nothing asked a second time

    assert (counts.fetched, counts.refused, counts.failed) == (3, 7, 0), lines
    assert (again.fetched, again.refused, again.failed) == (0, 0, 0)
    assert not leftover.exists() and any("half-written" in line for line in lines)
    stored = rows(engine)
    for pid, (_what, reason) in HOSTILE.items():
        row = stored[thumbs[pid]]
        assert row["status"] == "refused" and row["sha256"] is None, (pid, row)
        assert reason in row["reason"], (pid, row["reason"])
    good = stored[thumbs["2603.00001"]]
    name = f"{hashlib.sha256(GOOD).hexdigest()}.png"
    assert (good["status"], f"{good['sha256']}.{good['ext']}", good["width"], good["height"],
            good["size_bytes"]) == ("ok", name, 40, 30, len(GOOD))
    moved = stored[thumbs["2603.00008"]]  # a redirect within http(s) is followed
    assert (moved["status"], moved["sha256"]) == ("ok", hashlib.sha256(MOVED).hexdigest())
    assert sorted(p.name for p in media_dir(cfg).iterdir()) == sorted(
        f"{hashlib.sha256(b).hexdigest()}.png" for b in (GOOD, AVATAR, MOVED))

    with TestClient(create_app(cfg, engine)) as client:
        served = client.get(f"/media/{name}")
        assert served.status_code == 200 and served.content == GOOD
        assert served.headers["content-type"] == "image/png"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["x-content-type-options"] == "nosniff"
        for unknown in ("0" * 64 + ".png", name.replace(".png", ".svg"), name + ".png",
                        "..%2Fdailypapers.sqlite3", name.upper()):
            assert client.get(f"/media/{unknown}").status_code == 404, unknown

        day = client.get(f"/papers/date/{DAY}").text
        paper = client.get("/papers/2603.00001").text
        bare = client.get("/papers/2603.00002").text

    imgs = re.findall(r"<img [^>]*>", day)
    avatar_name = f"{hashlib.sha256(AVATAR).hexdigest()}.png"
    assert sorted(re.search(r'src="([^"]+)"', i).group(1) for i in imgs) == sorted(
        [f"/media/{name}", f"/media/{avatar_name}",
         f"/media/{hashlib.sha256(MOVED).hexdigest()}.png"])
    thumb = next(i for i in imgs if name in i)
    for attribute in ('width="40"', 'height="30"', 'alt=""', 'loading="lazy"', 'decoding="async"'):
        assert attribute in thumb
    card = day[day.index('data-paper-id="2603.00001"'):]
    card = card[:card.index("</article>")]
    assert f'src="/media/{avatar_name}" width="16" height="16" alt=""' in card
    assert "Acme Lab</span>" in card
    assert f'src="/media/{name}"' in paper and f'src="/media/{avatar_name}"' in paper
    assert "<img" not in bare  # refused: nothing at all, no broken image
    assert "Paper without pictures" in day


def test_a_failed_fetch_is_asked_again_a_day_later_not_before(
    settings: Settings, engine: sa.Engine, tmp_path: Path,
) -> None:
    cfg = media_settings(settings)
    with FakeUpstream(tmp_path, atom_files=[], oai_pages=0) as fake:
        fake.down("/thumbs/flaky.png")
        item = hf_item("2603.00001", title="Flaky", day=DAY)
        item["thumbnail"] = fake.url + "/thumbs/flaky.png"
        load(engine, tmp_path, [item])
        now = dt.datetime(2026, 3, 3, tzinfo=dt.timezone.utc)
        first = fetch_media(cfg, engine, log=lambda _l: None, now=now)
        assert (first.failed, len(fake.requests)) == (1, 2)  # one retry (media_max_retries)
        soon = fetch_media(cfg, engine, log=lambda _l: None, now=now + dt.timedelta(hours=1))
        assert (soon.failed, len(fake.requests)) == (0, 2)
        fake._scripts.clear()
        fake.images["/thumbs/flaky.png"] = ("image/png", GOOD)
        later = fetch_media(cfg, engine, log=lambda _l: None,
                            now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2))
    assert later.fetched == 1
    (row,) = rows(engine).values()
    assert (row["status"], row["reason"]) == ("ok", None)


def test_the_sync_fetches_images_after_the_papers(
    settings: Settings, engine: sa.Engine, tmp_path: Path,
) -> None:
    root = tmp_path / "upstream"
    (root / "hf-daily").mkdir(parents=True)
    with FakeUpstream(root, atom_files=[], oai_pages=0) as fake:
        fake.images["/thumbs/good.png"] = ("image/png", GOOD)
        item = hf_item("2603.00001", title="Synced", day=DAY)
        item["thumbnail"] = fake.url + "/thumbs/good.png"
        write_json(root / "hf-daily" / f"{DAY}.json", [item])
        cfg = media_settings(settings, hf_base_url=fake.url, sync_min_interval_seconds=0.0,
                             sync_backfill_days=2)
        now = dt.datetime(2026, 3, 2, 18, tzinfo=dt.timezone.utc)
        without = run_sync(cfg, engine, now=now, sources=["hf"], log=lambda _l: None)
        assert without.media is None and rows(engine) == {}
        report = run_sync(cfg, engine, now=now, sources=["hf"], log=lambda _l: None, media=True)
    assert report.ok and fake.requests_to(HF_PATH)
    assert (report.media.fetched, report.media.refused) == (1, 0)
    assert [r["status"] for r in rows(engine).values()] == ["ok"]


def test_an_image_on_a_private_address_is_refused_unless_allowed(
    settings: Settings, engine: sa.Engine, tmp_path: Path,
) -> None:
    assert private_host("http://[::1]/x") == "::1 is a non-public address (::1)"
    assert private_host("http://169.254.169.254/latest") is not None  # cloud metadata
    assert private_host("http://10.1.2.3/x") is not None
    assert private_host("http://8.8.8.8/x") is None  # only looked at, never asked
    with FakeUpstream(tmp_path, atom_files=[], oai_pages=0) as fake:
        fake.images["/thumbs/good.png"] = ("image/png", GOOD)
        item = hf_item("2603.00001", title="Probe", day=DAY)
        item["thumbnail"] = fake.url + "/thumbs/good.png"
        load(engine, tmp_path, [item])
        strict = media_settings(settings, media_allow_private_hosts=False)
        refused = fetch_media(strict, engine, log=lambda _l: None)
        assert (refused.refused, fake.requests) == (1, [])  # never asked
        (row,) = rows(engine).values()
        assert "127.0.0.1 is a non-public address (127.0.0.1)" in row["reason"]

        # Every hop is checked: a redirect cannot lead a fetch where the first URL could not.
        fake.redirects["/thumbs/out.png"] = "/thumbs/good.png"
        with PoliteClient(media_settings(settings)) as client:
            with pytest.raises(Refused, match="no entry to good.png"):
                client.get_bytes(fake.url + "/thumbs/out.png", max_bytes=10_000, total_seconds=5,
                                 check_host=lambda u: "no entry to good.png"
                                 if u.endswith("good.png") else None)
        assert [r.path for r in fake.requests] == ["/thumbs/out.png"]


def test_the_media_command_and_import_fetch_media(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from dailypapers.cli import main
    from dailypapers.settings import get_settings

    def cli(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(main, list(args), catch_exceptions=False)
        finally:
            get_settings.cache_clear()

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAILYPAPERS_DATABASE_URL", raising=False)  # the default SQLite file
    monkeypatch.delenv("DAILYPAPERS_CONFIG", raising=False)
    for name, value in {"DATA_DIR": str(tmp_path / "data"), "MEDIA_ALLOW_PRIVATE_HOSTS": "true",
                        "MEDIA_MIN_INTERVAL_SECONDS": "0", "MEDIA_FETCH_MAX": "1"}.items():
        monkeypatch.setenv(f"DAILYPAPERS_{name}", value)
    with FakeUpstream(tmp_path, atom_files=[], oai_pages=0) as fake:
        fake.images["/a.png"] = ("image/png", GOOD)
        fake.images["/b.png"] = ("image/png", MOVED)
        fake.images["/c.svg"] = ("image/svg+xml", SVG)
        payload = []
        for n, path in enumerate(["/a.png", "/b.png", "/c.svg"], start=1):
            item = hf_item(f"2603.0000{n}", title=f"Paper {n}", day=DAY)
            item["thumbnail"] = fake.url + path
            payload.append(item)
        day = write_json(tmp_path / f"{DAY}.json", payload)
        assert cli("db", "upgrade").exit_code == 0
        imported = cli("import", "--fetch-media", str(day))  # MEDIA_FETCH_MAX=1: one image
        assert imported.exit_code == 0, imported.output
        assert "media: 1 fetched, 0 refused, 0 failed" in imported.output
        rest = cli("media", "--limit", "10")  # the catch-up: the other two
    assert rest.exit_code == 0, rest.output
    assert "media: 1 fetched, 1 refused, 0 failed" in rest.output
    assert "refused " + fake.url + "/c.svg" in rest.output and "image/svg+xml" in rest.output
    assert len(list((tmp_path / "data" / "media").iterdir())) == 2


def test_the_lookup_asks_the_database_once_per_data_version(engine: sa.Engine) -> None:
    """A page rendered at a data version a catch-up already read at does not ask again about a
    URL never fetched (media writes move the data version); a new version, or none, does."""
    from dailypapers.db.engine import write_transaction
    from dailypapers.ingest.media import MediaFile, MediaLookup

    asked: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "FROM media" in statement:
            asked.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    lookup = MediaLookup(engine)
    a, b = "https://img.example/a.png", "https://img.example/b.png"
    assert lookup.get(a, version=5) is None and len(asked) == 1
    assert lookup.get(b, version=5) is None and len(asked) == 1  # read at 5 already
    with write_transaction(engine, changes=None) as conn:  # a row no version announced
        conn.execute(media.insert().values(
            url_hash="b" * 64, url=b, status="ok", sha256="f" * 64, ext="png", width=4,
            height=3, size_bytes=10, fetched_at=dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)))
    assert lookup.get(b, version=5) is None and len(asked) == 1
    assert lookup.get(b, version=6) == MediaFile(f"{'f' * 64}.png", 4, 3) and len(asked) == 2
    assert lookup.get(a, version=None) is None and len(asked) == 3  # unknown version: asks
    assert lookup.get(a, version=6) is None and len(asked) == 3
