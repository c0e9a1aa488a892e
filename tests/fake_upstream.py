"""A fake Hugging Face + arXiv upstream on loopback that replays the recorded files.

Routes (all on one ``http.server`` in a thread):
- ``GET /api/daily_papers?date=D&limit=L&p=N``: ``hf-daily/D.json`` (``[]`` for a day without a
  file), paged by ``limit``/``p`` with ``Link: <…>; rel="next"`` while items remain. A file that
  fits on one page is sent byte for byte as recorded (Python-repr items, the wrapped form).
- ``GET /api/papers/{id}``: the paper-info answer stored in ``paper_info[id]`` (bytes, as
  recorded), else 404 with ``{"error": "Paper not found"}`` as huggingface.co answers.
- ``GET /api/query?start=N``: the Atom files in ``atom_files``, each served at the ``start``
  where the previous ones end, an empty feed anywhere else.
- ``GET /api/query?id_list=A,B``: one feed with the recorded entries of those ids (versions
  ignored), taken from every Atom file in ``arxiv/api-atom`` plus ``atom_entries`` (id → entry
  bytes, for tests); an id nobody recorded is left out, so an unknown id gives an empty feed
  (``totalResults`` 0), as the arXiv API answers.
- ``GET /oai?verb=ListRecords&metadataPrefix=arXiv&set=cs&from=D``: the first of ``oai_pages``
  recorded ``ListRecords`` pages; each page's real ``resumptionToken`` leads to the next one, the
  last page is served with its token emptied (in memory). Other sets: ``noRecordsMatch``.
- ``GET <any path in images>``: image bytes with the Content-Type they were given
  (``fake.images["/thumbs/a.png"] = ("image/png", b"...")``), to test thumbnails and avatars;
  ``GET <any path in redirects>``: a 302 to the Location given (``fake.redirects[...] = "..."``);
  a path in ``unsized`` is sent without Content-Length (the body ends when the connection closes).

Faults are scripted per path (optionally only for some query values, only after N requests,
for a number of times or for good): an HTTP status with headers (503 + Retry-After, 429), a body
cut short under the full Content-Length (then the connection closes), a body cut with a matching
Content-Length (undecodable), a connection closed without an answer, a delay. Every request is
recorded (path, query, headers, time) before it is answered; hooks run at that point.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

HF_PATH = "/api/daily_papers"
HF_PAPER_PATH = "/api/papers/"  # + arXiv id: the recorded paper-info answers in ``paper_info``
ATOM_PATH = "/api/query"
OAI_PATH = "/oai"

EMPTY_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
  <id>https://arxiv.org/api/empty</id>
  <title>arXiv Query: empty page</title>
  <updated>2026-04-01T00:00:00Z</updated>
  <opensearch:itemsPerPage>100</opensearch:itemsPerPage>
  <opensearch:totalResults>0</opensearch:totalResults>
  <opensearch:startIndex>%d</opensearch:startIndex>
</feed>
"""

OAI_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2026-04-01T00:00:00Z</responseDate>
<request verb="ListRecords">http://export.arxiv.org/oai2</request>
<error code="{code}">{text}</error>
</OAI-PMH>
"""

_UNSIZED = "X-Fake-Unsized"  # route() -> _send(): no Content-Length for this answer
_TOKEN = re.compile(rb"(<resumptionToken[^>]*)>([^<]*)</resumptionToken>")
_ENTRY = re.compile(rb"<entry[\s>]")
_ENTRY_BLOCK = re.compile(rb"<entry[\s>].*?</entry>", re.S)
_ENTRY_ID = re.compile(rb"<id>\s*https?://arxiv\.org/abs/([^<\s]+?)(?:v\d+)?\s*</id>")
_VERSION = re.compile(r"v\d+$")

ID_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" \
xmlns:arxiv="http://arxiv.org/schemas/atom">
  <id>https://arxiv.org/api/id_list</id>
  <title>arXiv Query: id_list</title>
  <updated>2026-04-01T00:00:00Z</updated>
  <opensearch:itemsPerPage>%d</opensearch:itemsPerPage>
  <opensearch:totalResults>%d</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
%s
</feed>
"""


@dataclass(frozen=True)
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() when the request arrived


@dataclass
class Fault:
    kind: str  # "status" | "truncate" | "cut" | "close" | "delay"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0

    @classmethod
    def http(cls, status: int, retry_after: str | None = None, body: bytes = b"") -> Fault:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls("status", status=status, headers=headers, body=body or b"unavailable")

    @classmethod
    def truncate(cls) -> Fault:
        """Declare the full Content-Length, send half the body, close the connection."""
        return cls("truncate")

    @classmethod
    def cut(cls) -> Fault:
        """Send half the body with a Content-Length that matches it: undecodable, not short."""
        return cls("cut")

    @classmethod
    def close(cls) -> Fault:
        """Close the connection without sending anything."""
        return cls("close")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally after ``seconds`` (to trip the client's timeout)."""
        return cls("delay", seconds=seconds)


@dataclass
class _Script:
    path: str
    fault: Fault
    times: int | None  # None: for good
    when: dict[str, str]
    after: int  # only once this many requests to ``path`` have arrived before


@lru_cache(maxsize=8)
def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


class FakeUpstream:
    def __init__(
        self,
        data_dir: Path,
        *,
        atom_files: list[str] | None = None,
        oai_pages: int = 2,
        hf_default_limit: int = 50,
        hf_max_limit: int = 100,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.hf_default_limit = hf_default_limit
        self.hf_max_limit = hf_max_limit  # like any server, it caps what the client asks for
        atom_dir = self.data_dir / "arxiv" / "api-atom"
        names = atom_files if atom_files is not None else sorted(
            p.name for p in atom_dir.glob("api_query_*.xml")
        )
        self.atom_pages: list[bytes] = [_read(atom_dir / n) for n in names]
        self._atom_dir = atom_dir
        # Entries served by ``id_list=``: the recorded ones (read on first use) and these.
        self.atom_entries: dict[str, bytes] = {}
        self._recorded_entries: dict[str, bytes] | None = None
        self.oai_pages = self._oai_chain(oai_pages)
        # Paper-info answers by arXiv id (``GET /api/papers/{id}``); others answer 404 like HF.
        self.paper_info: dict[str, bytes] = {}
        # Thumbnails and avatars by path: (Content-Type, body); redirects by path: Location.
        self.images: dict[str, tuple[str, bytes]] = {}
        self.redirects: dict[str, str] = {}
        self.unsized: set[str] = set()
        self.requests: list[Recorded] = []
        self.hooks: list[Callable[[Recorded], None]] = []
        self._scripts: list[_Script] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeUpstream:
        fake = self

        class Handler(_Handler):
            upstream = fake

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # -- scripting ---------------------------------------------------------------------------

    def add_fault(
        self,
        path: str,
        fault: Fault,
        *,
        times: int | None = 1,
        when: dict[str, str] | None = None,
        after: int = 0,
    ) -> None:
        """Answer requests to ``path`` with ``fault``: ``times`` times (None: for good), only
        for requests whose query has the ``when`` values, only after ``after`` requests."""
        with self._lock:
            self._scripts.append(_Script(path, fault, times, dict(when or {}), after))

    def down(self, path: str, *, after: int = 0) -> None:
        self.add_fault(path, Fault.http(503), times=None, after=after)

    def on_request(self, hook: Callable[[Recorded], None]) -> None:
        self.hooks.append(hook)

    # -- inspection --------------------------------------------------------------------------

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def hf_dates(self) -> list[str]:
        return [r.query.get("date", "") for r in self.requests_to(HF_PATH)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- internals ---------------------------------------------------------------------------

    def _record(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[
        Recorded, Fault | None
    ]:
        with self._lock:
            before = sum(1 for r in self.requests if r.path == path)
            rec = Recorded(path, query, headers, time.monotonic())
            self.requests.append(rec)
            fault = None
            for script in self._scripts:
                if script.path != path or before < script.after:
                    continue
                if any(query.get(k) != v for k, v in script.when.items()):
                    continue
                if script.times is not None:
                    if script.times <= 0:
                        continue
                    script.times -= 1
                fault = script.fault
                break
        for hook in list(self.hooks):
            hook(rec)
        return rec, fault

    def route(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path == HF_PATH:
            return self._hf(query)
        if path == ATOM_PATH:
            return self._atom(query)
        if path == OAI_PATH:
            return self._oai(query)
        if path in self.images:
            content_type, body = self.images[path]
            unsized = {_UNSIZED: "1"} if path in self.unsized else {}
            return 200, {"Content-Type": content_type, **unsized}, body
        if path in self.redirects:
            return 302, {"Location": self.redirects[path]}, b""
        if path.startswith(HF_PAPER_PATH) and path[len(HF_PAPER_PATH):] in self.paper_info:
            body = self.paper_info[path[len(HF_PAPER_PATH):]]
            return 200, {"Content-Type": "application/json; charset=utf-8"}, body
        if path.startswith(HF_PAPER_PATH):
            return 404, {"Content-Type": "application/json"}, b'{"error": "Paper not found"}'
        return 404, {"Content-Type": "application/json"}, b'{"error": "not found"}'

    def _hf(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        json_type = {"Content-Type": "application/json; charset=utf-8"}
        date = query.get("date", "")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            return 400, json_type, json.dumps({"error": f"Invalid date: {date!r}"}).encode()
        try:
            asked = int(query.get("limit", self.hf_default_limit))
            limit = min(self.hf_max_limit, max(1, asked))
            page = max(0, int(query.get("p", 0)))
        except ValueError:
            return 400, json_type, b'{"error": "limit and p must be integers"}'
        path = self.data_dir / "hf-daily" / f"{date}.json"
        if not path.exists():
            return 200, json_type, b"[]"
        raw = _read(path)
        body = json.loads(raw)
        if not isinstance(body, list) or (page == 0 and len(body) <= limit):
            return 200, json_type, raw  # exactly as recorded
        chunk = body[page * limit:(page + 1) * limit]
        headers = dict(json_type)
        if (page + 1) * limit < len(body):
            nxt = urlencode({"date": date, "limit": limit, "p": page + 1})
            headers["Link"] = f'<{self.url}{HF_PATH}?{nxt}>; rel="next"'
        return 200, headers, json.dumps(chunk).encode()

    def _atom(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        atom_type = {"Content-Type": "application/atom+xml; charset=utf-8"}
        if query.get("id_list"):
            return 200, atom_type, self._by_ids(query["id_list"].split(","))
        try:
            start = int(query.get("start", 0))
        except ValueError:
            return 400, atom_type, EMPTY_FEED % 0
        offset = 0
        for page in self.atom_pages:
            if start == offset:
                return 200, atom_type, page
            offset += len(_ENTRY.findall(page))
        return 200, atom_type, EMPTY_FEED % start

    def _by_ids(self, ids: list[str]) -> bytes:
        with self._lock:
            if self._recorded_entries is None:
                self._recorded_entries = {}
                for path in sorted(self._atom_dir.glob("*.xml")):
                    for block in _ENTRY_BLOCK.findall(_read(path)):
                        match = _ENTRY_ID.search(block)
                        if match:
                            self._recorded_entries.setdefault(match.group(1).decode(), block)
            known = {**self._recorded_entries, **self.atom_entries}
        found = [known[i] for i in (_VERSION.sub("", raw.strip()) for raw in ids) if i in known]
        return ID_FEED % (len(found), len(found), b"\n".join(found))

    def _oai(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        xml_type = {"Content-Type": "text/xml; charset=utf-8"}
        if query.get("verb") != "ListRecords":
            return 200, xml_type, _oai_error("badVerb", "only ListRecords here")
        token = query.get("resumptionToken")
        if token is not None:
            for index, (_page, own_token) in enumerate(self.oai_pages[:-1]):
                if own_token == token:
                    return 200, xml_type, self.oai_pages[index + 1][0]
            return 200, xml_type, _oai_error("badResumptionToken", "unknown token")
        if query.get("metadataPrefix") != "arXiv":
            return 200, xml_type, _oai_error("cannotDisseminateFormat", "use arXiv")
        if query.get("set") != "cs":
            return 200, xml_type, _oai_error("noRecordsMatch", "no records")
        return 200, xml_type, self.oai_pages[0][0]

    def _oai_chain(self, count: int) -> list[tuple[bytes, str]]:
        """(page body, its token) for the first ``count`` pages; the last token emptied."""
        folder = self.data_dir / "arxiv" / "oai-pmh-cs-2016"
        pages: list[tuple[bytes, str]] = []
        for n in range(1, count + 1):
            body = _read(folder / f"listrecords-{n:03d}.xml.gz")
            match = _TOKEN.search(body)
            token = match.group(2).decode() if match else ""
            if n == count and match:
                body = _TOKEN.sub(lambda m: m.group(1) + b"/>", body, count=1)
                token = ""
            pages.append((body, token))
        return pages


def _oai_error(code: str, text: str) -> bytes:
    return OAI_ERROR.format(code=code, text=text).encode()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on a delayed answer is part of the script


class _Handler(BaseHTTPRequestHandler):
    upstream: FakeUpstream
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes on a kept-alive connection: with Nagle on, the body
    # waits for the client's delayed ACK (~40 ms a request, seconds a sync).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        _rec, fault = self.upstream._record(
            parts.path, query, {k.lower(): v for k, v in self.headers.items()}
        )
        if fault is not None and fault.kind == "close":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "status":
            self._send(fault.status, {"Content-Type": "text/plain", **fault.headers}, fault.body)
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        status, headers, body = self.upstream.route(parts.path, query)
        if fault is not None and fault.kind == "truncate":
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault is not None and fault.kind == "cut":
            body = body[: len(body) // 2]
        self._send(status, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        unsized = headers.pop(_UNSIZED, None) is not None
        for k, v in headers.items():
            self.send_header(k, v)
        if unsized:
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
