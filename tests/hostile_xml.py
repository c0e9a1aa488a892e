"""The XML half of the hostile corpus: arXiv OAI-PMH pages, API Atom feeds and RSS feeds
(see tests/hostile_corpus.py for what is planted and why)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape as _xml_escape

from tests.hostile_payloads import (
    ABSTRACT_LINKS, BAD_URLS, BIDI_TITLE, BIG, KATEX_ABSTRACT, KATEX_TITLE, LICENCE, MARKUP, RLO,
    XXE_SECRET, Corpus, Ids, Record, write_file,
)

# --- XML: OAI-PMH, Atom, RSS -------------------------------------------------------------------
# One builder signature for the three formats: ``url`` goes into every URL-shaped slot the
# format has, ``long`` (a string too long for the columns it lands in) into its date, DOI,
# licence and category slots.

Authors = list[tuple[str, str | None]]  # (name, affiliation)
_AUTHORS: Authors = [("Ada Lovelace", "Analytical Engines Ltd"), ("Alan Turing", None)]


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
        + f"<license>{_x(url or LICENCE + long)}</license>{extra}"
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
        + f"<dc:rights>{_x(url or LICENCE + long)}</dc:rights>"
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


OAI = _XmlFormat("oai", 200, _oai_record, _oai_page, "record", "OAI-PMH")
ATOM = _XmlFormat("atom", 300, _atom_entry, _atom_feed, "entry", "feed")
RSS = _XmlFormat("rss", 400, _rss_item, _rss_feed, "item", "rss")
XmlPlan = list[tuple[bool, str, str, str]]  # (good, what, pid, xml)


def _xml_markup_file(corpus: Corpus, fmt: _XmlFormat, good_only: bool) -> None:
    """Markup, script URLs, KaTeX, bidi, a 1 MiB field and over-long column values: records,
    never a broken file."""
    ids, make, plan = Ids(fmt.block + 1), fmt.record, []

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
    if fmt is OAI:  # one big field per format keeps the corpus small
        add(False, "1 MiB author name", lambda pid: make(
            pid, f"Huge author {pid}", authors=[("Ada " + "Name" * (BIG // 4), None)]))
    elif fmt is ATOM:
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
    write_file(corpus, name, gzip.compress(data, mtime=0) if gzip_it else data)


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
        ids = Ids(fmt.block + 10 + n)
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


def write_xml_files(corpus: Corpus, good_only: bool) -> None:
    for fmt in (OAI, ATOM, RSS):
        _xml_markup_file(corpus, fmt, good_only)
    _xml_poison_files(corpus, OAI, ("nulbyte", "surrogate", "deep", "xxe", "laughs", "junk"),
                      good_only)
    _xml_poison_files(corpus, ATOM, ("badutf8", "nulref", "xxe", "laughs", "junk"), good_only)
    _xml_poison_files(corpus, RSS, ("nulbyte", "badutf8", "xxe", "laughs"), good_only)
