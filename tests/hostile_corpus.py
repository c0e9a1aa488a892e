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
- a right-to-left override (U+202E) in titles and names; 1 MiB titles, abstracts and names, a
  75,000-name author list; dates, DOIs, licences, categories, ids and user names longer than
  the columns they land in (PostgreSQL refuses those);
- NUL and lone surrogates (JSON ``\\ud800``), invalid UTF-8, JSON nested 100,000 deep;
- in the XML formats: XXE, billion laughs, NUL and surrogate character references, raw NUL
  bytes, invalid UTF-8, 10,000-deep elements and 100,000 junk ``<x/>`` elements.

A file broken at the byte level (XML with a NUL byte, JSON that does not decode) may be refused
from the break on: records before the break must still land, records after it must land unless
a refusal line names the file. Each such file holds one kind of breakage.

The JSON formats are built here, the XML ones in tests/hostile_xml.py, the planted values and
the bookkeeping live in tests/hostile_payloads.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile_payloads import (
    ABSTRACT_LINKS, BAD_URLS, BIDI_TITLE, BIG, DAYS, KATEX_ABSTRACT, KATEX_TITLE, LICENCE, MARKUP,
    QUOTE_URL, RLO, Corpus, Ids, Record, write_file,
)
from tests.hostile_xml import write_xml_files

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
    ids = Ids(101)
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
    ids = Ids(102)
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
    ids = Ids(103)
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
    ids = Ids(104)
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
    write_file(corpus, name, data)


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
    ids = Ids(501)
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
                                license=LICENCE + "x" * 300, categories="cs." + "x" * 300,
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
    write_file(corpus, name, b"\n".join(lines) + b"\n")


# --- the corpus --------------------------------------------------------------------------------


def write_corpus(folder: Path, *, good_only: bool = False) -> Corpus:
    """Write every hostile file into ``folder`` (created) and say what each record is."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(folder=folder)
    _hf_markup_file(corpus, good_only)
    _hf_poison_file(corpus, good_only)
    _hf_deep_file(corpus, good_only)
    _hf_badutf8_file(corpus, good_only)
    _kaggle_files(corpus, good_only)
    write_xml_files(corpus, good_only)
    if good_only:
        corpus.may_refuse_file.clear()
    return corpus


if __name__ == "__main__":  # write a corpus to look at: python -m tests.hostile_corpus DIR
    import sys

    made = write_corpus(Path(sys.argv[1]))
    print(f"{len(made.files)} files, {len(made.good)} good and {len(made.bad)} bad records")
