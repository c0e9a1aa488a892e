"""A hostile corpus: files in every format ``dailypapers import`` sniffs, good records interleaved
with records an attacker could plant upstream (issue 7).

``write_corpus(folder)`` writes the files and returns a ``Corpus`` saying what each record is, so a
test can check that every good record landed and that every bad one either landed harmless or was
refused with a line naming it. ``write_corpus(folder, good_only=True)`` writes the same files with
only their good records: importing those must exit 0, which proves the good records are records
each parser accepts (the failures of the hostile import are then the importer's, not the
generator's).

What is planted, and where:
- markup (``<script>``, ``<img onerror>``, an attribute breaker) in every text field: titles,
  abstracts, author names and affiliations, comments, ``ai_summary``, ``ai_keywords``, submitter
  and organisation names, categories;
- ``javascript:`` (mixed case, leading spaces, a tab or a newline inside), ``data:`` and
  ``vbscript:`` URLs in every URL field (``githubRepo``, ``projectPage``, ``thumbnail``,
  ``mediaUrls``, avatars, Atom links, RSS links, licences, DOIs) and as links in abstract text;
- KaTeX tricks (``\\href{javascript:…}``, ``\\url``, ``\\htmlData``, ``\\includegraphics``);
- a right-to-left override (U+202E) in titles and names; 1 MiB titles, abstracts and names;
- NUL and lone surrogates (JSON ``\\ud800``), invalid UTF-8, JSON nested 100,000 deep;
- in the XML formats: XXE, billion laughs, NUL and surrogate character references, raw NUL
  bytes, invalid UTF-8, 10,000-deep elements and 100,000 junk ``<x/>`` elements.

A file broken at the byte level (XML with a NUL byte, JSON that does not decode) may be refused
from the break on: records before the break must still land, records after it must land unless
a refusal line names the file. Each such file holds one kind of breakage.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape as _xml_escape

# --- payloads --------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ATTR = "\" onmouseover=\"alert(1)"
MARKUP = (SCRIPT, IMG, ATTR)

# Every way a URL can carry script (or another scheme) into an href or src.
BAD_URLS = (
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "  javascript:alert(1)",
    "java\tscript:alert(1)",
    "\tjava\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
)
# An http(s) URL that tries to break out of the attribute instead.
QUOTE_URL = "https://github.com/evil/repo\" onmouseover=\"alert(1)"

KATEX_TITLE = r"Math $\href{javascript:alert(1)}{click me}$ and $\url{javascript:alert(1)}$"
KATEX_ABSTRACT = (
    r"We show $\href{javascript:alert(1)}{x}$, $\url{javascript:alert(1)}$, "
    r"$\htmlData{foo=bar}{y}$, $\htmlId{pwn}{z}$, "
    r"$\htmlStyle{background:url(javascript:alert(1))}{w}$, "
    r"$\includegraphics[height=1em]{javascript:alert(1)}$ and \(\href{  JaVaScRiPt:alert(1)}{v}\) "
    r"and $$\href{data:text/html,<script>alert(1)</script>}{u}$$ in math."
)
# Links written into free text, where the importer looks for code and project pages.
ABSTRACT_LINKS = (
    "Code: javascript:alert(1) and github.com/evil/repo\"onmouseover=\"alert(1) ; "
    "project page: data:text/html,<script>alert(1)</script> ; "
    "our project page: JaVaScRiPt:alert(1)//evil.github.io ; demo at vbscript:msgbox(1)."
)
RLO = "\u202e"
BIDI_TITLE = f"Harmless title {RLO}txt.exe{RLO} and more"
BIG = 1024 * 1024  # one MiB, the size of the planted fields
XXE_SECRET = "XXE-SECRET-7f3c9b"  # written to a dot file beside the corpus (never imported)

# Feature days of the HF files; the markup day is a Monday (ISO week 2026-W45).
DAYS = {
    "markup": "2026-11-02",
    "poison": "2026-11-03",
    "deep": "2026-11-04",
    "badutf8": "2026-11-05",
}


@dataclass
class Record:
    """One record planted in a file."""

    arxiv_id: str
    file: str  # file name (inside the corpus folder)
    position: str  # as the parsers name it: "item 3", "record 2", "entry 1", "line 4"
    good: bool
    what: str  # what is planted (for messages)
    # A good record after a byte-level break: it may be lost if a refusal line names the file.
    after_break: bool = False


@dataclass
class Corpus:
    folder: Path
    files: list[Path] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    # Files that may be refused as a whole (its good records then need not land), with why.
    may_refuse_file: dict[str, str] = field(default_factory=dict)

    @property
    def good(self) -> list[Record]:
        return [r for r in self.records if r.good]

    @property
    def bad(self) -> list[Record]:
        return [r for r in self.records if not r.good]

    def ids(self) -> set[str]:
        return {r.arxiv_id for r in self.records}


class _Ids:
    """Distinct new-style arXiv ids, one block of numbers per file."""

    def __init__(self, block: int) -> None:
        self.next = block * 100 + 1

    def __call__(self) -> str:
        value = f"2611.{self.next:05d}"
        self.next += 1
        return value


# --- Hugging Face daily JSON -----------------------------------------------------------------


def _hf_item(pid: str, day: str, title: str, **over: object) -> dict[str, object]:
    """A daily item shaped like huggingface.co's (2026), every URL field filled."""
    paper: dict[str, object] = {
        "id": pid,
        "authors": [
            {"_id": f"a{pid}1", "name": "Ada Lovelace", "hidden": False,
             "user": {"_id": "u9", "avatarUrl": "https://cdn-avatars.huggingface.co/ada.png",
                      "isPro": False, "fullname": "Ada Lovelace", "user": "ada", "type": "user"}},
            {"_id": f"a{pid}2", "name": "Alan Turing", "hidden": False},
        ],
        "publishedAt": f"{day}T08:00:00.000Z",
        "submittedOnDailyAt": f"{day}T12:00:00.000Z",
        "title": title,
        "submittedOnDailyBy": {
            "_id": "u1", "avatarUrl": "https://cdn-avatars.huggingface.co/grace.png",
            "isPro": False, "fullname": "Grace Hopper", "user": "grace", "type": "user",
            "name": "grace",
        },
        "summary": f"The abstract of {title}. It is about hostile inputs.",
        "upvotes": 7,
        "discussionId": "d" + pid.replace(".", ""),
        "githubRepo": f"https://github.com/good/{pid.replace('.', '-')}",
        "githubStars": 12,
        "projectPage": f"https://good.github.io/{pid}/",
        "ai_summary": f"A short summary of {title}.",
        "ai_keywords": ["hostile inputs", "parsers"],
    }
    item: dict[str, object] = {
        "paper": paper,
        "publishedAt": f"{day}T08:00:00.000Z",
        "title": title,
        "summary": paper["summary"],
        "mediaUrls": [f"https://cdn-uploads.huggingface.co/{pid}/fig.png"],
        "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{pid}.png",
        "numComments": 1,
        "submittedBy": {
            "_id": "u1", "avatarUrl": "https://cdn-avatars.huggingface.co/grace.png",
            "fullname": "Grace Hopper", "name": "grace", "type": "user", "isPro": False,
        },
        "organization": {
            "_id": "o1", "name": "good-lab", "fullname": "Good Lab",
            "avatar": "https://cdn-avatars.huggingface.co/good-lab.png",
        },
        "isAuthorParticipating": False,
    }
    for key, value in over.items():
        if key.startswith("item_"):
            item[key[5:]] = value
        else:
            paper[key] = value
    return item


def _hf_bad_url_item(pid: str, day: str, url: str) -> dict[str, object]:
    """``url`` in every URL field a Hugging Face item has."""
    item = _hf_item(
        pid, day, f"Links that are not links {pid}",
        githubRepo=url, projectPage=url,
        item_thumbnail=url, item_mediaUrls=[url, "https://cdn-uploads.huggingface.co/ok.png", url],
        item_mediaUrl=url,
    )
    paper = item["paper"]
    assert isinstance(paper, dict)
    paper["authors"][0]["user"]["avatarUrl"] = url  # type: ignore[index]
    paper["submittedOnDailyBy"]["avatarUrl"] = url  # type: ignore[index]
    item["submittedBy"]["avatarUrl"] = url  # type: ignore[index]
    item["organization"]["avatar"] = url  # type: ignore[index]
    item["organization"]["avatarUrl"] = url  # type: ignore[index]
    return item


def _hf_markup_item(pid: str, day: str, payload: str) -> dict[str, object]:
    """``payload`` in every text field a Hugging Face item has."""
    item = _hf_item(
        pid, day, f"Title {payload} {pid}",
        summary=f"Abstract {payload} with more words {payload}.",
        ai_summary=f"Summary {payload}", ai_keywords=[payload, f"kw {payload}"],
        item_title=f"Outer {payload} {pid}", item_summary=f"Outer abstract {payload}",
    )
    paper = item["paper"]
    assert isinstance(paper, dict)
    paper["authors"] = [
        {"_id": "x1", "name": f"Mallory {payload}", "hidden": False,
         "user": {"_id": "u6", "user": f"mal{payload}", "fullname": f"Mal {payload}",
                  "avatarUrl": "https://cdn-avatars.huggingface.co/m.png", "type": "user"}},
        {"_id": "x2", "name": "Ada Lovelace", "hidden": False},
    ]
    paper["submittedOnDailyBy"] = {"_id": "u7", "user": f"eve{payload}", "name": f"eve{payload}",
                                   "fullname": f"Eve {payload}", "type": "user",
                                   "avatarUrl": "https://cdn-avatars.huggingface.co/e.png"}
    item["submittedBy"] = {"_id": "u7", "name": f"eve{payload}", "fullname": f"Eve {payload}",
                           "type": "user", "avatarUrl": "https://cdn-avatars.huggingface.co/e.png"}
    item["organization"] = {"_id": "o2", "name": f"org{payload}", "fullname": f"Org {payload}",
                            "avatar": "https://cdn-avatars.huggingface.co/o.png"}
    return item


def _hf_markup_file(corpus: Corpus, good_only: bool) -> None:
    day = DAYS["markup"]
    name = f"hf-markup-{day}.json"
    ids = _Ids(101)
    plan: list[tuple[bool, str, dict[str, object]]] = []

    def good() -> None:
        pid = ids()
        plan.append((True, "good", _hf_item(pid, day, f"Good daily paper {pid}")))

    def bad(what: str, item: dict[str, object]) -> None:
        plan.append((False, what, item))

    good()
    for url in (*BAD_URLS, QUOTE_URL):
        pid = ids()
        bad(f"URL {url!r} in every URL field", _hf_bad_url_item(pid, day, url))
        if len(plan) % 3 == 0:
            good()
    for payload in MARKUP:
        pid = ids()
        bad(f"{payload!r} in every text field", _hf_markup_item(pid, day, payload))
        good()
    pid = ids()
    bad("KaTeX tricks", _hf_item(pid, day, KATEX_TITLE, summary=KATEX_ABSTRACT,
                                 item_title=KATEX_TITLE, item_summary=KATEX_ABSTRACT))
    pid = ids()
    bad("script links in the abstract (no githubRepo)", _hf_item(
        pid, day, f"Links in text {pid}", summary=ABSTRACT_LINKS, item_summary=ABSTRACT_LINKS,
        githubRepo=None, projectPage=None))
    good()
    pid = ids()
    item = _hf_item(pid, day, BIDI_TITLE, item_title=BIDI_TITLE)
    item["paper"]["authors"][0]["name"] = f"Ada {RLO}ecalevol"  # type: ignore[index]
    bad("U+202E in the title and an author name", item)
    pid = ids()
    bad("1 MiB title", _hf_item(pid, day, "Huge " + "title " * (BIG // 6),
                                summary="Short.", item_summary="Short.", item_title="Huge",
                                ai_summary="Short."))
    good()
    _write_hf(corpus, name, plan, good_only)


def _hf_poison_file(corpus: Corpus, good_only: bool) -> None:
    """NUL and lone surrogates (valid JSON), decoded fine, that the database cannot hold."""
    day = DAYS["poison"]
    name = f"hf-poison-{day}.json"
    ids = _Ids(102)
    plan: list[tuple[bool, str, dict[str, object]]] = []
    for what, over in (
        ("NUL in the title", {"title": "Null\x00byte title"}),
        ("lone surrogate in the title", {"title": "Lone \ud800 surrogate"}),
        ("lone surrogate in the abstract", {"summary": "Abstract \udfff here"}),
        ("NUL in ai_summary and a keyword", {"ai_summary": "a\x00b", "ai_keywords": ["k\x00"]}),
        ("lone surrogate in githubRepo", {"githubRepo": "https://github.com/a/\ud800"}),
    ):
        pid = ids()
        plan.append((True, "good", _hf_item(pid, day, f"Good poison-day paper {pid}")))
        pid = ids()
        title = over.pop("title", f"Poisoned paper {pid}")
        plan.append((False, what, _hf_item(pid, day, str(title), **over)))
    pid = ids()
    item = _hf_item(pid, day, f"Long values {pid}", discussionId="d" * 300,
                    publishedAt="2026-11-03T08:00:00.000Z" + "x" * 300)
    item["submittedBy"]["name"] = "grace" + "x" * 300  # type: ignore[index]
    item["publishedAt"] = "2026-11-03T08:00:00.000Z" + "x" * 300
    plan.append((False, "name, ids and dates longer than their columns", item))
    pid = ids()
    item = _hf_item(pid, day, f"Poisoned names {pid}")
    item["paper"]["authors"][1]["name"] = "Alan \ud83d Turing"  # type: ignore[index]
    item["submittedBy"]["fullname"] = "Grace\x00Hopper"  # type: ignore[index]
    item["organization"]["fullname"] = "Lab \udc80"  # type: ignore[index]
    plan.append((False, "lone surrogates and NUL in names", item))
    pid = ids()
    plan.append((True, "good", _hf_item(pid, day, f"Good poison-day paper {pid}")))
    _write_hf(corpus, name, plan, good_only)


def _hf_deep_file(corpus: Corpus, good_only: bool) -> None:
    """A file that sniffs as HF daily JSON and holds a value nested 100,000 deep."""
    day = DAYS["deep"]
    name = f"hf-deep-{day}.json"
    ids = _Ids(103)
    plan: list[tuple[bool, str, dict[str, object]]] = []
    for _ in range(2):
        pid = ids()
        plan.append((True, "good", _hf_item(pid, day, f"Good deep-day paper {pid}")))
    pid = ids()
    plan.append((False, "a field nested 100,000 deep", _hf_item(pid, day, f"Deep {pid}",
                                                                  ai_keywords="@DEEP@")))
    pid = ids()
    plan.append((True, "good", _hf_item(pid, day, f"Good deep-day paper {pid}")))
    corpus.may_refuse_file[name] = "JSON nested 100,000 deep cannot be decoded as a whole"
    _write_hf(corpus, name, plan, good_only, deep=True)


def _hf_badutf8_file(corpus: Corpus, good_only: bool) -> None:
    day = DAYS["badutf8"]
    name = f"hf-badutf8-{day}.json"
    ids = _Ids(104)
    plan: list[tuple[bool, str, dict[str, object]]] = []
    for _ in range(2):
        pid = ids()
        plan.append((True, "good", _hf_item(pid, day, f"Good bad-utf8-day paper {pid}")))
    pid = ids()
    plan.append((False, "invalid UTF-8 bytes in the title",
                 _hf_item(pid, day, "Bad @BADUTF8@ bytes")))
    pid = ids()
    plan.append((True, "good", _hf_item(pid, day, f"Good bad-utf8-day paper {pid}")))
    corpus.may_refuse_file[name] = "JSON that is not UTF-8 cannot be decoded as a whole"
    _write_hf(corpus, name, plan, good_only)


def _write_hf(
    corpus: Corpus, name: str, plan: list[tuple[bool, str, dict[str, object]]], good_only: bool,
    deep: bool = False,
) -> None:
    items: list[dict[str, object]] = []
    for is_good, what, item in plan:
        if good_only and not is_good:
            continue
        pid = str(item["paper"]["id"])  # type: ignore[index]
        corpus.records.append(Record(pid, name, f"item {len(items)}", is_good, what))
        items.append(item)
    text = json.dumps(items, indent=1)  # ensure_ascii: NUL and surrogates as \u escapes
    data = text.encode("ascii")
    if deep:  # 100,000 nested lists, valid JSON
        data = data.replace(b'"@DEEP@"', b"[" * 100_000 + b"]" * 100_000)
    data = data.replace(b"@BADUTF8@", b"\xff\xfe\xc3\x28\xed\xa0\x80")
    _write(corpus, name, data)


# --- Kaggle arxiv-metadata JSON lines ----------------------------------------------------------


def _kaggle_line(pid: str, title: str, **over: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "id": pid,
        "submitter": "Ada Lovelace",
        "authors": "Ada Lovelace, Alan Turing and Grace Hopper",
        "title": title,
        "comments": "12 pages, 3 figures",
        "journal-ref": None,
        "doi": None,
        "report-no": None,
        "categories": "cs.LG stat.ML",
        "license": "http://creativecommons.org/licenses/by/4.0/",
        "abstract": f"  The abstract of {title}.\nIt spans two lines.\n",
        "versions": [{"version": "v1", "created": "Mon, 2 Nov 2026 10:00:00 GMT"}],
        "update_date": "2026-11-02",
        "authors_parsed": [["Lovelace", "Ada", ""], ["Turing", "Alan", ""],
                           ["Hopper", "Grace", ""]],
    }
    obj.update(over)
    return obj


def _kaggle_files(corpus: Corpus, good_only: bool) -> None:
    ids = _Ids(501)
    markup: list[tuple[bool, str, str, dict[str, object] | bytes]] = []

    def good(plan: list[tuple[bool, str, str, dict[str, object] | bytes]]) -> None:
        pid = ids()
        plan.append((True, "good", pid, _kaggle_line(pid, f"Good snapshot paper {pid}")))

    good(markup)
    for payload in MARKUP:
        pid = ids()
        markup.append((False, f"{payload!r} in every text field", pid, _kaggle_line(
            pid, f"Title {payload} {pid}", submitter=f"Mallory {payload}",
            authors=f"Mallory {payload}, Ada Lovelace",
            authors_parsed=[[f"Mallory {payload}", f"M {payload}", "", f"Inst {payload}"],
                            ["Lovelace", "Ada", ""]],
            comments=f"Comment {payload}", **{"journal-ref": f"J {payload}"},
            abstract=f"Abstract {payload} and {payload}", categories=f"cs.LG {payload}",
        )))
        good(markup)
    for url in (BAD_URLS[0], BAD_URLS[2], BAD_URLS[5], BAD_URLS[7]):
        pid = ids()
        markup.append((False, f"URL {url!r} as licence, DOI and links", pid, _kaggle_line(
            pid, f"Links {pid}", license=url, doi=url,
            abstract=f"Code at {url} ; project page: {url} ; {ABSTRACT_LINKS}",
            comments=f"project page: {url} github.com/evil/x\"onmouseover=\"alert(1)")))
    good(markup)
    pid = ids()
    markup.append((False, "KaTeX tricks", pid,
                   _kaggle_line(pid, KATEX_TITLE, abstract=KATEX_ABSTRACT)))
    pid = ids()
    markup.append((False, "U+202E in the title and an author name", pid, _kaggle_line(
        pid, BIDI_TITLE, authors_parsed=[[f"Love{RLO}lace", "Ada", ""]])))
    pid = ids()
    markup.append((False, "1 MiB abstract", pid, _kaggle_line(
        pid, f"Huge abstract {pid}", abstract="word " * (BIG // 5))))
    good(markup)
    _write_lines(corpus, "kaggle-markup.jsonl", markup, good_only)

    poison: list[tuple[bool, str, str, dict[str, object] | bytes]] = []
    good(poison)
    pid = ids()
    poison.append((False, "NUL in the title", pid, _kaggle_line(pid, "Null\x00byte")))
    good(poison)
    pid = ids()
    poison.append((False, "lone surrogate in the abstract", pid,
                   _kaggle_line(pid, f"Surrogate {pid}", abstract="bad \ud800 abstract")))
    good(poison)
    pid = ids()
    poison.append((False, "lone surrogates and NUL in authors", pid, _kaggle_line(
        pid, f"Names {pid}", authors_parsed=[["Tur\udfffing", "Al\x00an", ""]])))
    good(poison)
    pid = ids()
    line = json.dumps(_kaggle_line(pid, "Bad @BADUTF8@ bytes")).encode()
    poison.append((False, "invalid UTF-8 in the title", pid,
                   line.replace(b"@BADUTF8@", b"\xff\xfe\xc3\x28")))
    good(poison)
    pid = ids()
    line = json.dumps({"id": pid, "title": "Deep", "abstract": "@DEEP@",
                       "versions": [], "authors_parsed": []}).encode()
    poison.append((False, "a line nested 100,000 deep", pid,
                   line.replace(b'"@DEEP@"', b"[" * 100_000 + b"]" * 100_000)))
    good(poison)
    pid = ids()
    poison.append((False, "a line nested 100,000 deep in objects", pid, (
        b'{"id": "' + pid.encode() + b'", "title": "Deep objects", "abstract": '
        + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}")))
    good(poison)
    pid = ids()
    poison.append((False, "dates, DOI, licence and category longer than their columns", pid,
                   _kaggle_line(pid, f"Long values {pid}", doi="10.1/" + "x" * 300,
                                license=_LICENCE + "x" * 300, categories="cs." + "x" * 300,
                                versions=[{"version": "v1", "created": "Mon" + "x" * 300}])))
    good(poison)
    _write_lines(corpus, "kaggle-poison.jsonl", poison, good_only)


def _write_lines(
    corpus: Corpus, name: str, plan: list[tuple[bool, str, str, dict[str, object] | bytes]],
    good_only: bool,
) -> None:
    lines: list[bytes] = []
    for is_good, what, pid, obj in plan:
        if good_only and not is_good:
            continue
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode("ascii")
        corpus.records.append(Record(pid, name, f"line {len(lines) + 1}", is_good, what))
        lines.append(data)
    _write(corpus, name, b"\n".join(lines) + b"\n")


# --- XML: OAI-PMH, Atom, RSS -------------------------------------------------------------------
# One builder signature for the three formats: ``url`` goes into every URL-shaped slot the
# format has, ``long`` (a string too long for the columns it lands in) into its date, DOI,
# licence and category slots.

Authors = list[tuple[str, str | None]]  # (name, affiliation)
_AUTHORS: Authors = [("Ada Lovelace", "Analytical Engines Ltd"), ("Alan Turing", None)]
_LICENCE = "http://creativecommons.org/licenses/by/4.0/"


def _x(text: str) -> str:
    return _xml_escape(text, {'"': "&quot;"})


def _oai_record(pid: str, title: str, *, abstract: str | None = None,
                authors: Authors = _AUTHORS, comments: str = "10 pages", url: str | None = None,
                category: str = "cs.LG", journal: str = "", long: str = "",
                raw_title: bool = False, extra: str = "") -> str:
    people = "".join(
        f"<author><keyname>{_x(name.partition(' ')[2] or name)}</keyname>"
        f"<forenames>{_x(name.partition(' ')[0])}</forenames>"
        + (f"<affiliation>{_x(aff)}</affiliation>" if aff else "") + "</author>"
        for name, aff in authors)
    return (
        f"<record><header><identifier>oai:arXiv.org:{pid}</identifier>"
        f"<datestamp>2026-11-02</datestamp><setSpec>cs</setSpec></header><metadata>"
        f'<arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>{pid}</id>'
        f"<created>2026-11-01{_x(long)}</created><authors>{people}</authors>"
        f"<title>{title if raw_title else _x(title)}</title>"
        f"<categories>cs.LG {_x(category + long)}</categories><comments>{_x(comments)}</comments>"
        + (f"<journal-ref>{_x(journal)}</journal-ref>" if journal else "")
        + (f"<doi>{_x(url or '10.1/x' + long)}</doi>" if url or long else "")
        + f"<license>{_x(url or _LICENCE + long)}</license>{extra}"
        f"<abstract>{_x(abstract or f'The abstract of {title}, in two{chr(10)}lines.')}</abstract>"
        "</arXiv></metadata></record>\n")


def _oai_page(records: list[str], doctype: str = "", junk: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + doctype +
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">\n'
        "<responseDate>2026-11-02T00:00:00Z</responseDate>\n"
        '<request verb="ListRecords" metadataPrefix="arXiv" set="cs">'
        "http://export.arxiv.org/oai2</request>\n<ListRecords>\n" + junk + "".join(records)
        + '<resumptionToken cursor="0" completeListSize="9"></resumptionToken>\n'
        "</ListRecords>\n</OAI-PMH>\n")


def _atom_entry(pid: str, title: str, *, abstract: str | None = None,
                authors: Authors = _AUTHORS, comments: str = "10 pages", url: str | None = None,
                category: str = "cs.LG", journal: str = "", long: str = "",
                raw_title: bool = False, extra: str = "") -> str:
    people = "".join(
        f"<author><name>{_x(name)}</name>"
        + (f"<arxiv:affiliation>{_x(aff)}</arxiv:affiliation>" if aff else "") + "</author>"
        for name, aff in authors)
    abs_url = url or f"https://arxiv.org/abs/{pid}v1"
    pdf_url = url or f"https://arxiv.org/pdf/{pid}v1"
    return (
        f"<entry><id>http://arxiv.org/abs/{pid}v1</id>"
        f"<title>{title if raw_title else _x(title)}</title>"
        f"<updated>2026-11-02T10:00:00Z{_x(long)}</updated>"
        f"<published>2026-11-02T10:00:00Z{_x(long)}</published>"
        f"<summary>{_x(abstract or f'The abstract of {title}.')}</summary>{people}"
        f'<link href="{_x(abs_url)}" rel="alternate" type="text/html"/>'
        f'<link href="{_x(pdf_url)}" rel="related" type="application/pdf" title="pdf"/>'
        + (f'<link href="{_x(url)}" rel="related" title="doi"/>' if url else "")
        + f"<arxiv:comment>{_x(comments)}</arxiv:comment>"
        + (f"<arxiv:doi>{_x(url or '10.1/x' + long)}</arxiv:doi>" if url or long else "")
        + (f"<arxiv:journal_ref>{_x(journal)}</arxiv:journal_ref>" if journal else "")
        + f'<arxiv:primary_category term="{_x(category + long)}"/>'
        f'<category term="{_x(category)}" scheme="http://arxiv.org/schemas/atom"/>'
        f'<category term="stat.ML" scheme="http://arxiv.org/schemas/atom"/>{extra}</entry>\n')


def _atom_feed(entries: list[str], doctype: str = "", junk: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + doctype +
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">\n'
        "<id>https://arxiv.org/api/hostile</id><title>arXiv Query</title>"
        "<updated>2026-11-02T10:00:00Z</updated>"
        '<link href="https://arxiv.org/api/query?search_query=all" type="application/atom+xml"/>\n'
        "<opensearch:totalResults>9</opensearch:totalResults>\n"
        + junk + "".join(entries) + "</feed>\n")


def _rss_item(pid: str, title: str, *, abstract: str | None = None,
              authors: Authors = _AUTHORS, comments: str = "", url: str | None = None,
              category: str = "cs.LG", journal: str = "", long: str = "",
              raw_title: bool = False, extra: str = "") -> str:
    del comments  # the feed has no comments
    creators = ", ".join(name for name, _ in authors)
    return (
        f"<item><title>{title if raw_title else _x(title)}</title>"
        f"<link>{_x(url or f'https://arxiv.org/abs/{pid}')}</link>"
        f"<description>arXiv:{pid}v1 Announce Type: new \nAbstract: "
        f"{_x(abstract or f'The abstract of {title}.')}</description>"
        f'<guid isPermaLink="false">oai:arXiv.org:{pid}v1</guid>'
        f"<category>{_x(category)}</category>"
        f"<pubDate>Mon, 02 Nov 2026 00:00:00 -0500{_x(long)}</pubDate>"
        "<arxiv:announce_type>new</arxiv:announce_type>"
        + (f"<arxiv:DOI>{_x(url or '10.1/x' + long)}</arxiv:DOI>" if url or long else "")
        + (f"<arxiv:journal_reference>{_x(journal)}</arxiv:journal_reference>" if journal else "")
        + f"<dc:rights>{_x(url or _LICENCE + long)}</dc:rights>"
        f"<dc:creator>{_x(creators)}</dc:creator>{extra}</item>\n")


def _rss_feed(items: list[str], doctype: str = "", junk: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + doctype +
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>\n'
        "<title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link>"
        "<description>cs.LG updates</description>\n" + junk + "".join(items) + "</channel></rss>\n")


@dataclass
class _XmlFormat:
    prefix: str  # file name prefix
    block: int  # id block
    record: Callable[..., str]  # (pid, title, **slots) -> one record
    page: Callable[..., str]  # (records, doctype=, junk=) -> the document
    position: str  # how the parser counts: "record" | "entry" | "item"
    root: str  # root element, for the DOCTYPE


_OAI = _XmlFormat("oai", 200, _oai_record, _oai_page, "record", "OAI-PMH")
_ATOM = _XmlFormat("atom", 300, _atom_entry, _atom_feed, "entry", "feed")
_RSS = _XmlFormat("rss", 400, _rss_item, _rss_feed, "item", "rss")
XmlPlan = list[tuple[bool, str, str, str]]  # (good, what, pid, xml)


def _xml_markup_file(corpus: Corpus, fmt: _XmlFormat, good_only: bool) -> None:
    """Markup, script URLs, KaTeX, bidi, a 1 MiB field and over-long column values: records,
    never a broken file."""
    ids, make, plan = _Ids(fmt.block + 1), fmt.record, []

    def add(is_good: bool, what: str, build: Callable[[str], str]) -> None:
        pid = ids()
        plan.append((is_good, what, pid, build(pid)))

    def good() -> None:
        add(True, "good", lambda pid: make(pid, f"Good {fmt.prefix} paper {pid}"))

    good()
    for p in MARKUP:
        add(False, f"{p!r} in every text field", lambda pid, p=p: make(
            pid, f"Title {p} {pid}", abstract=f"Abstract {p} more {p}", comments=f"Comment {p}",
            authors=[(f"Mallory {p}", f"Inst {p}"), ("Ada Lovelace", None)], journal=f"J {p}",
            category=p))
        good()
    for u in BAD_URLS:
        add(False, f"URL {u!r} in every URL field", lambda pid, u=u: make(
            pid, f"Links {pid}", url=u, abstract=f"Code at {u} ; project page: {u}",
            comments=f"project page: {u}"))
    good()
    add(False, "script links in the abstract",
        lambda pid: make(pid, f"Links in text {pid}", abstract=ABSTRACT_LINKS))
    add(False, "KaTeX tricks", lambda pid: make(pid, KATEX_TITLE, abstract=KATEX_ABSTRACT))
    good()
    add(False, "U+202E in the title and an author name", lambda pid: make(
        pid, BIDI_TITLE, authors=[(f"Ada Love{RLO}lace", None)]))
    if fmt is _OAI:  # one big field per format keeps the corpus small
        add(False, "1 MiB author name", lambda pid: make(
            pid, f"Huge author {pid}", authors=[("Ada " + "Name" * (BIG // 4), None)]))
    elif fmt is _ATOM:
        add(False, "1 MiB title",
            lambda pid: make(pid, "Huge title " * (BIG // 11), abstract="Short."))
    else:
        add(False, "a 75,000-name author list", lambda pid: make(
            pid, f"Huge author list {pid}", authors=[("Ada Lovelace", None)] * (BIG // 14)))
    good()
    add(False, "dates, DOI, licence and category longer than their columns",
        lambda pid: make(pid, f"Long values {pid}", long="x" * 300))
    good()
    _write_xml(corpus, fmt, f"{fmt.prefix}-markup.xml", plan, good_only)


def _write_xml(
    corpus: Corpus, fmt: _XmlFormat, name: str, plan: XmlPlan, good_only: bool, *,
    doctype: str = "", junk: str = "", after: str | None = None, gzip_it: bool = False,
) -> None:
    """``after``: the pid of the planted break; good records after it are ``after_break``."""
    chunks: list[str] = []
    broken = False
    for is_good, what, pid, xml in plan:
        if good_only and not is_good:
            continue
        corpus.records.append(Record(pid, name, f"{fmt.position} {len(chunks) + 1}", is_good,
                                     what, after_break=broken))
        chunks.append(xml)
        broken = broken or pid == after
    if good_only:  # the good records alone, in a plain page
        doctype = junk = ""
    data = fmt.page(chunks, doctype=doctype, junk=junk).encode("utf-8")
    data = data.replace(b"@NULBYTE@", b"\x00").replace(b"@BADUTF8@", b"\xff\xfe\xc3\x28")
    _write(corpus, name, gzip.compress(data) if gzip_it else data)


def _laughs(root: str) -> str:
    lol = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    lol += [f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10)]
    return f"<!DOCTYPE {root} [{''.join(lol)}]>\n"


def _xml_poison_files(corpus: Corpus, fmt: _XmlFormat, kinds: tuple[str, ...],
                      good_only: bool) -> None:
    """One file per kind: good, good, the poisoned record, good."""
    make = fmt.record
    secret = corpus.folder / ".xxe-secret"  # a dot file: the importer skips it
    secret.write_text(XXE_SECRET + "\n")
    for n, kind in enumerate(kinds):
        ids = _Ids(fmt.block + 10 + n)
        name = f"{fmt.prefix}-{kind}.xml" + (".gz" if kind == "junk" else "")
        plan: XmlPlan = []
        for _ in range(2):
            pid = ids()
            plan.append((True, "good", pid, make(pid, f"Good {fmt.prefix} {kind} paper {pid}")))
        pid = ids()
        doctype = junk = ""
        after: str | None = pid  # byte-level breaks: what follows may be refused with the file
        if kind == "nulbyte":
            what, xml = "a raw NUL byte in the title", make(pid, "Null@NULBYTE@byte")
        elif kind == "nulref":
            what, xml = "&#0; in the title", make(pid, "Null &#0; ref", raw_title=True)
        elif kind == "surrogate":
            what, xml = "&#xD800; in the title", make(pid, "Lone &#xD800; ref", raw_title=True)
        elif kind == "badutf8":
            what, xml = "invalid UTF-8 in the title", make(pid, "Bad @BADUTF8@ bytes")
        elif kind == "deep":
            what = "elements nested 10,000 deep"
            xml = make(pid, f"Deep {pid}", extra="<x>" * 10_000 + "</x>" * 10_000)
        elif kind in ("xxe", "laughs", "junk"):
            after = None  # the whole file may be refused instead
            if kind == "xxe":
                doctype = (f'<!DOCTYPE {fmt.root} [<!ENTITY xxe SYSTEM "file://{secret}">'
                           '<!ENTITY passwd SYSTEM "file:///etc/passwd">]>\n')
                what = "XXE: file entities in the title"
                xml = make(pid, f"Secret &xxe; &passwd; {pid}", raw_title=True)
                corpus.may_refuse_file[name] = "a DOCTYPE with external entities"
            elif kind == "laughs":
                doctype = _laughs(fmt.root)
                what = "billion laughs: an entity expanding to 3 GB in the title"
                xml = make(pid, f"Laughs &lol9; {pid}", raw_title=True)
                corpus.may_refuse_file[name] = "a DOCTYPE with nested entities"
            else:
                what = "100,000 junk <x/> elements in and around the record"
                xml = make(pid, f"Junk {pid}", extra="<x/>" * 50_000)
                junk = "<x/>" * 50_000
                corpus.may_refuse_file[name] = "a page of 100,000 junk elements (an element cap)"
        else:
            raise ValueError(kind)
        plan.append((False, what, pid, xml))
        pid = ids()
        plan.append((True, "good", pid, make(pid, f"Good {fmt.prefix} {kind} paper {pid}")))
        _write_xml(corpus, fmt, name, plan, good_only, doctype=doctype, junk=junk,
                   after=after, gzip_it=kind == "junk")


# --- the corpus --------------------------------------------------------------------------------


def _write(corpus: Corpus, name: str, data: bytes) -> None:
    path = corpus.folder / name
    path.write_bytes(data)
    corpus.files.append(path)


def write_corpus(folder: Path, *, good_only: bool = False) -> Corpus:
    """Write every hostile file into ``folder`` (created) and say what each record is."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(folder=folder)
    _hf_markup_file(corpus, good_only)
    _hf_poison_file(corpus, good_only)
    _hf_deep_file(corpus, good_only)
    _hf_badutf8_file(corpus, good_only)
    _kaggle_files(corpus, good_only)
    for fmt in (_OAI, _ATOM, _RSS):
        _xml_markup_file(corpus, fmt, good_only)
    _xml_poison_files(corpus, _OAI, ("nulbyte", "surrogate", "deep", "xxe", "laughs", "junk"),
                      good_only)
    _xml_poison_files(corpus, _ATOM, ("badutf8", "nulref", "xxe", "laughs", "junk"), good_only)
    _xml_poison_files(corpus, _RSS, ("nulbyte", "badutf8", "xxe", "laughs"), good_only)
    if good_only:
        corpus.may_refuse_file.clear()
    return corpus


if __name__ == "__main__":  # write a corpus to look at: python -m tests.hostile_corpus DIR
    import sys

    made = write_corpus(Path(sys.argv[1]))
    print(f"{len(made.files)} files, {len(made.good)} good and {len(made.bad)} bad records")
