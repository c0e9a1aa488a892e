"""Thumbnails and organisation avatars, fetched once into ``<data_dir>/media/`` and served from our
own origin (web/routes_media.py), so a page never asks another site for anything.

- Which URLs: ``papers.thumbnail`` and the ``avatar_url`` of ``papers.organization`` and
  ``feature_days.organization``, newest featured days first, those without a ``media`` row.
- What is kept: PNG, JPEG, WebP or GIF, known by its first bytes (the Content-Type header must
  name one of them too, but is never believed alone); no SVG (it can carry script). At most
  ``media_max_bytes``, at most ``MAX_SIDE`` pixels a side, width and height read from the header
  so <img> gets both and nothing jumps while the page loads.
- Where: ``<sha256 of the bytes>.<ext>``, written to a temporary file and renamed, so a crash
  leaves no half file under a real name (stale temporary files are swept at the next run).
- One row per URL in ``media``: ok (the file), refused (why; never asked again) or failed
  (timeouts, 5xx, connection errors: asked again after ``RETRY_FAILED_AFTER``). One bad image is
  one refused row; the others go on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import re
import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import feature_days, media, papers
from dailypapers.ingest.validate import safe_url
from dailypapers.settings import Settings

Log = Callable[[str], None]

MAX_SIDE = 8192  # a 2 MB PNG can declare 50,000 × 50,000 pixels: the browser would decode it
RETRY_FAILED_AFTER = dt.timedelta(days=1)
ALLOWED_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
CONTENT_TYPES = {ext: mime for mime, ext in ALLOWED_TYPES.items()}
FILE_NAME = re.compile(r"[0-9a-f]{64}\.(png|jpg|webp|gif)")
_TMP_PREFIX = ".fetching-"


class NotAnImage(ValueError):
    """Bytes that are not one of the allowed image formats, or whose size cannot be read."""


@dataclass(frozen=True, slots=True)
class MediaFile:
    name: str  # <sha256>.<ext>, served at /media/<name>
    width: int
    height: int


@dataclass
class MediaCounts:
    fetched: int = 0
    refused: int = 0
    failed: int = 0

    def describe(self) -> str:
        return f"{self.fetched} fetched, {self.refused} refused, {self.failed} failed"


def media_dir(settings: Settings) -> Path:
    return settings.data_dir / "media"


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


# --- what the bytes are -------------------------------------------------------------------------


def sniff(data: bytes) -> tuple[str, int, int]:
    """``(ext, width, height)`` from the image's own header; NotAnImage otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return _sized("png", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return _sized("gif", width, height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        return _sized("webp", *_webp_size(data))
    if data[:3] == b"\xff\xd8\xff":
        return _sized("jpg", *_jpeg_size(data))
    raise NotAnImage("not a PNG, JPEG, WebP or GIF image (by its first bytes)")


def _sized(ext: str, width: int, height: int) -> tuple[str, int, int]:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise NotAnImage(f"{ext} of {width} × {height} pixels (1 to {MAX_SIDE} a side allowed)")
    return ext, width, height


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise NotAnImage("WebP without a VP8, VP8L or VP8X header")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk the segments to the first start-of-frame marker (SOF0..SOF15 less DHT/JPG/DAC)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise NotAnImage("JPEG segments out of step")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if length < 2:
            raise NotAnImage("JPEG segment with a length below 2")
        i += 2 + length
    raise NotAnImage("JPEG without a frame header")


def check_image(body: bytes, content_type: str) -> tuple[str, int, int]:
    """``(ext, width, height)`` of a fetched body, or NotAnImage with the reason."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared not in ALLOWED_TYPES:
        raise NotAnImage(f"Content-Type {declared or 'missing'!r} is not one of "
                         f"{', '.join(sorted(ALLOWED_TYPES))}")
    return sniff(body)


# --- files ----------------------------------------------------------------------------------------


def store(folder: Path, body: bytes, ext: str) -> str:
    """Write ``body`` as ``<sha256>.<ext>`` in ``folder`` (temporary file + rename); its name."""
    name = f"{hashlib.sha256(body).hexdigest()}.{ext}"
    target = folder / name
    if target.exists():  # content-addressed: the same bytes are already there
        return name
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name


def sweep_temporary(folder: Path) -> int:
    """Remove what a crashed fetch left half-written; how many files."""
    removed = 0
    if folder.is_dir():
        for path in folder.glob(_TMP_PREFIX + "*"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# --- which URLs -----------------------------------------------------------------------------------


def _candidate_urls(conn: Connection) -> Iterator[str]:
    """Thumbnail and avatar URLs, newest featured day first, then papers never featured."""
    feature_org = feature_days.c.organization["avatar_url"].as_string()
    paper_org = papers.c.organization["avatar_url"].as_string()
    featured = (
        sa.select(papers.c.thumbnail, paper_org, feature_org)
        .join(feature_days, feature_days.c.paper_id == papers.c.id)
        .order_by(feature_days.c.day.desc(), feature_days.c.paper_id)
    )
    for row in conn.execute(featured).yield_per(1000):
        yield from (url for url in row if url)
    others = sa.select(papers.c.thumbnail, paper_org).where(
        ~sa.exists().where(feature_days.c.paper_id == papers.c.id)
        & ((papers.c.thumbnail.is_not(None)) | (papers.c.organization.is_not(None)))
    ).order_by(papers.c.id.desc())
    for row in conn.execute(others).yield_per(1000):
        yield from (url for url in row if url)


def pending_urls(conn: Connection, limit: int, *, now: dt.datetime) -> list[str]:
    """Up to ``limit`` URLs to fetch: http(s), no row yet (or a failed one old enough)."""
    done = {h for (h,) in conn.execute(sa.select(media.c.url_hash).where(
        (media.c.status != "failed") | (media.c.fetched_at > now - RETRY_FAILED_AFTER)))}
    out: list[str] = []
    seen: set[str] = set()
    for raw in _candidate_urls(conn):
        if len(out) >= limit:
            break
        url = safe_url(raw)  # stored URLs passed it at import; a path (/avatars/x.svg) does not
        if url is None or url in seen:
            continue
        seen.add(url)
        if url_hash(url) not in done:
            out.append(url)
    return out


# --- where from -----------------------------------------------------------------------------------


def private_host(url: str) -> str | None:
    """Why ``url``'s host may not be asked (it is or resolves to a loopback, private, link-local
    or otherwise reserved address: an upstream record must not make the sync probe the network
    it runs in), or None. A name that does not resolve is left to the fetch to report."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return f"{host} is a non-public address ({address})"
    return None


# --- the step -------------------------------------------------------------------------------------


def fetch_media(
    settings: Settings, engine: Engine, *, limit: int | None = None, log: Log = print,
    stop: threading.Event | None = None, client: object | None = None,
    now: dt.datetime | None = None,
) -> MediaCounts:
    """Fetch up to ``limit`` (default ``media_fetch_max``) images not fetched yet. Upstream trouble
    is recorded per URL and never raised; Stopped ends the step between two images."""
    limit = settings.media_fetch_max if limit is None else limit
    if limit <= 0:
        return MediaCounts()
    folder = media_dir(settings)
    swept = sweep_temporary(folder)
    if swept:
        log(f"media: removed {swept} half-written file(s) left by an interrupted fetch")
    now = now or dt.datetime.now(dt.timezone.utc)
    with read_transaction(engine) as conn:
        urls = pending_urls(conn, limit, now=now)
    return fetch_urls(settings, engine, urls, log=log, stop=stop, client=client)


def fetch_urls(
    settings: Settings, engine: Engine, urls: list[str], *, log: Log = print,
    stop: threading.Event | None = None, client: object | None = None,
) -> MediaCounts:
    """Fetch ``urls`` (http(s), checked by the caller) one by one, each recorded on its own."""
    from dailypapers.sync.http import PoliteClient, Refused, Stopped, UpstreamError

    counts = MediaCounts()
    folder = media_dir(settings)
    if not urls:
        return counts
    polite = settings.model_copy(update={
        "sync_min_interval_seconds": settings.media_min_interval_seconds,
        "sync_max_retries": 1,
        "sync_timeout_seconds": settings.media_timeout_seconds,
    })
    check_host = None if settings.media_allow_private_hosts else private_host
    own = client is None
    http = client if client is not None else PoliteClient(polite, stop=stop, log=log)
    try:
        for url in urls:
            try:
                body, content_type = http.get_bytes(
                    url, max_bytes=settings.media_max_bytes,
                    total_seconds=settings.media_timeout_seconds, check_host=check_host)
                ext, width, height = check_image(body, content_type)
                name = store(folder, body, ext)
            except Stopped:
                break
            except (Refused, NotAnImage) as exc:
                _record(engine, url, "refused", reason=str(exc))
                counts.refused += 1
                log(f"media: refused {_shown(url)}: {exc}")
            except UpstreamError as exc:
                _record(engine, url, "failed", reason=str(exc))
                counts.failed += 1
                log(f"media: failed {_shown(url)}: {exc}")
            else:
                _record(engine, url, "ok", name=name, width=width, height=height,
                        size_bytes=len(body))
                counts.fetched += 1
    finally:
        if own:
            http.close()
    log(f"media: {counts.describe()}")
    return counts


def _shown(url: str) -> str:
    from dailypapers.sync.http import safe_url as log_safe_url

    return log_safe_url(url)


def _record(engine: Engine, url: str, status: str, *, name: str | None = None,
            width: int | None = None, height: int | None = None, size_bytes: int | None = None,
            reason: str | None = None) -> None:
    sha, _, ext = (name or "").partition(".")
    values = {
        "url": url, "status": status, "sha256": sha or None, "ext": ext or None, "width": width,
        "height": height, "size_bytes": size_bytes, "reason": (reason or "")[:1000] or None,
        "fetched_at": dt.datetime.now(dt.timezone.utc),
    }
    key = url_hash(url)
    with write_transaction(engine) as conn:  # a retried URL gets a new id: MediaLookup sees it
        conn.execute(media.delete().where(media.c.url_hash == key))
        conn.execute(media.insert().values(url_hash=key, **values))


# --- what pages show ------------------------------------------------------------------------------


class MediaLookup:
    """URL → MediaFile for templates: the ok rows, kept in memory and caught up with at most one
    small query (rows with a larger id) per page that meets a URL it does not know.

    A page that knows the data version it renders at (``version``: web/cache.py's, read before
    the page's rows) skips even that query when a catch-up already read at that version: every
    media write moves the data version, so no row is missing (most pages meet URLs that were
    never fetched, and asked the database about them each time)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.files: dict[str, MediaFile | None] = {}
        self.last_id = 0
        self.version_read: int | None = None  # the newest data version a catch-up started at
        self._lock = threading.Lock()

    def get(self, url: object, *, refresh: bool = True,
            reader: Callable[[], ContextManager[Connection]] | None = None,
            version: int | None = None) -> MediaFile | None:
        if not isinstance(url, str) or not url:
            return None
        if (url in self.files or not refresh
                or (version is not None and version == self.version_read)):
            return self.files.get(url)
        self.refresh(reader, version)
        return self.files.get(url)

    def refresh(self, reader: Callable[[], ContextManager[Connection]] | None = None,
                version: int | None = None) -> None:
        """``reader``: the page's own read transaction (web/deps.request_reader), so a page
        never holds two pooled connections (under load every request waited on a second one).
        ``version``: the data version read before this (None: unknown)."""
        with self._lock:
            with (reader() if reader is not None else read_transaction(self.engine)) as conn:
                rows = conn.execute(
                    sa.select(media.c.id, media.c.url, media.c.status, media.c.sha256,
                              media.c.ext, media.c.width, media.c.height)
                    .where(media.c.id > self.last_id).order_by(media.c.id)).all()
            for row in rows:
                ok = (row.status == "ok" and row.sha256 and row.ext in CONTENT_TYPES
                      and row.width and row.height)
                self.files[row.url] = (
                    MediaFile(f"{row.sha256}.{row.ext}", row.width, row.height) if ok else None)
                self.last_id = max(self.last_id, row.id)
            if version is not None and (self.version_read is None or version > self.version_read):
                self.version_read = version
