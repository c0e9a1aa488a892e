"""The planted values and the bookkeeping of the hostile corpus (see tests/hostile_corpus.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


class Ids:
    """Distinct new-style arXiv ids, one block of numbers per file."""

    def __init__(self, block: int) -> None:
        self.next = block * 100 + 1

    def __call__(self) -> str:
        value = f"2611.{self.next:05d}"
        self.next += 1
        return value

LICENCE = "http://creativecommons.org/licenses/by/4.0/"


def write_file(corpus: Corpus, name: str, data: bytes) -> None:
    path = corpus.folder / name
    path.write_bytes(data)
    corpus.files.append(path)
