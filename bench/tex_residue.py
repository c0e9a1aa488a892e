"""How many rendered abstracts still show TeX outside math, before and after textex.py.

    python bench/tex_residue.py [--limit-files N]

Corpus: every Hugging Face daily file in ../shared/data/hf-daily (7,414 papers; some files hold
Python-repr strings) and the 102,538 arXiv OAI-PMH abstracts of ../shared/data/arxiv/
oai-pmh-cs-2016, read with the project's own parsers (``ingest.files.iter_file``).

Each abstract is rendered as the pages render it (``mathtext.math_markup``) and, for the
baseline, as they rendered it before this change (the text between formulas escaped, seven
``\\textbf{…}``-style commands unwrapped). The formulas (``<span class="math">``) are removed:
they go to KaTeX, which shows what it cannot typeset as source, by design. What is left is what a
reader sees as text; an abstract counts when that text still holds a control sequence, a
backslash followed by a letter (``\\it``, ``\\ours``) or by one of ``%&_#${}"'`^~=.`` (``\\%``,
``\\"U``). Two kinds remain after:

- kept as written: a command neither pylatexenc nor our own list (dailypapers/web/textex.py)
  gives a meaning to: mostly an author's own macro (``\\eps``, ``\\method``, ``\\NP``), kept so
  nothing the abstract says is lost; the most frequent are printed, to grow the list from;
- converted wrongly: anything else (a known command or escape still showing): the target is 0.

With Node (``node`` on PATH) it also counts the abstracts with a formula KaTeX rejects (the
bundled KaTeX, ``throwOnError``), before and after: those show that formula as source, which
the target allows; ``--no-katex`` skips it.

Prints both counts, the most frequent leftover commands, the time, and ends with
``tex_residue: N abstracts (target 0 outside math KaTeX rejects)`` where N is the second kind;
exits 1 when N > 0.
"""

from __future__ import annotations

import argparse
import collections
import html
import json
import re
import shutil
import subprocess
import sys
import time

from _util import REPO, corpus_files, headline, papers_in

from markupsafe import escape  # noqa: E402

from dailypapers.web import textex  # noqa: E402
from dailypapers.web.mathtext import math_markup, split_math  # noqa: E402

CONTROL = re.compile(r"\\([A-Za-z]+|[%&_#${}\"'`^~=.])")
MATH_SPAN = re.compile(r'<span class="math" data-display="([01])">(.*?)</span>', re.S)
KATEX = REPO / "dailypapers" / "web" / "static" / "vendor" / "katex" / "katex.min.js"
KATEX_CHECK = """
const katex = require(process.argv[1]);
const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);
process.stdout.write(lines.map(line => {
  const [tex, display] = JSON.parse(line);
  try { katex.renderToString(tex, {displayMode: display, throwOnError: true, strict: 'ignore'});
        return '0'; } catch (e) { return '1'; }
}).join(''));
"""
_OLD_MACROS = re.compile(
    r"\\(?:textsc|emph|textbf|textit|texttt|textrm|textsf|underline)\{([^{}]*)\}")


def old_markup(text: str) -> str:
    """The rendering before textex.py (mathtext.math_markup as it was)."""
    parts = []
    for kind, content in split_math(text):
        if kind == "text":
            parts.append(str(escape(_OLD_MACROS.sub(r"\1", content))))
        else:
            display = "1" if kind == "display" else "0"
            parts.append(f'<span class="math" data-display="{display}">{escape(content)}</span>')
    return "".join(parts)


def shown_commands(rendered: str) -> list[str]:
    """Control sequences in the text a reader sees, formulas left out."""
    return CONTROL.findall(html.unescape(MATH_SPAN.sub(" ", rendered)))


def formulas(rendered: str) -> list[tuple[str, bool]]:
    return [(html.unescape(body), flag == "1") for flag, body in MATH_SPAN.findall(rendered)]


def katex_rejects(all_formulas: set[tuple[str, bool]]) -> set[tuple[str, bool]]:
    """The formulas the bundled KaTeX refuses to typeset, checked in one Node process."""
    ordered = sorted(all_formulas)
    answer = subprocess.run(
        ["node", "-e", KATEX_CHECK, str(KATEX)], capture_output=True, text=True, check=True,
        input="\n".join(json.dumps(f) for f in ordered) + "\n").stdout
    assert len(answer) == len(ordered), (len(answer), len(ordered))
    return {f for f, bit in zip(ordered, answer) if bit == "1"}


def known(name: str) -> bool:
    """A command or escape pylatexenc (or our own list) gives a meaning to."""
    if not name.isalpha():
        return True  # \% \" … are all escapes or accents
    return (textex._TEXT_DB.get_macro_spec(name) is not None
            or textex._WALKER_DB.get_macro_spec(name) is not None)


def abstracts(limit_files: int | None) -> tuple[list[str], list[str]]:
    hf_files, oai_files = corpus_files(limit_files)
    return ([p.abstract for p in papers_in(hf_files) if p.abstract],
            [p.abstract for p in papers_in(oai_files) if p.abstract])

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit-files", type=int, default=None,
                        help="only the first N files of each folder (a quick look)")
    parser.add_argument("--no-katex", action="store_true",
                        help="do not count the formulas KaTeX rejects (needs node)")
    args = parser.parse_args()
    check_katex = not args.no_katex and shutil.which("node") is not None
    started = time.perf_counter()
    corpora = dict(zip(("hf-daily", "arxiv-oai"), abstracts(args.limit_files)))
    print(f"read {sum(map(len, corpora.values())):,} abstracts in "
          f"{time.perf_counter() - started:.1f} s")
    wrong_total = 0
    leftovers: collections.Counter[str] = collections.Counter()
    wrong_examples: list[str] = []
    for name, texts in corpora.items():
        before = after = unknown_only = wrong = 0
        math_before: list[list[tuple[str, bool]]] = []
        math_after: list[list[tuple[str, bool]]] = []
        t0 = time.perf_counter()
        for text in texts:
            rendered = old_markup(text)
            before += bool(shown_commands(rendered))
            math_before.append(formulas(rendered))
        t_before = time.perf_counter() - t0
        t0 = time.perf_counter()
        for text in texts:
            rendered = str(math_markup(text))
            math_after.append(formulas(rendered))
            left = shown_commands(rendered)
            if not left:
                continue
            after += 1
            leftovers.update("\\" + c for c in left)
            if all(not known(c) for c in left):
                unknown_only += 1
            else:
                wrong += 1
                if len(wrong_examples) < 5:
                    shown = " ".join(sorted({c for c in left if known(c)}))
                    wrong_examples.append(f"{shown} in: " + text[:300].replace("\n", " "))
        t_after = time.perf_counter() - t0
        wrong_total += wrong
        print(f"{name:>9}: {len(texts):>7,} abstracts; showing TeX outside math: before "
              f"{before:,} ({before / len(texts):.1%}), after {after:,} "
              f"({after / len(texts):.2%}): {unknown_only:,} only commands with no known meaning "
              f"(kept as written), {wrong:,} converted wrongly; render {t_before:.1f} s before, "
              f"{t_after:.1f} s after")
        if check_katex:
            t0 = time.perf_counter()
            rejected = katex_rejects({f for fs in math_before + math_after for f in fs})
            shown = [sum(any(f in rejected for f in fs) for fs in side)
                     for side in (math_before, math_after)]
            n_formulas = sum(map(len, math_after))
            print(f"{'':>9}  with a formula KaTeX rejects (shown as source): before {shown[0]:,},"
                  f" after {shown[1]:,} ({n_formulas:,} formulas after; "
                  f"checked in {time.perf_counter() - t0:.1f} s)")
    print("most frequent leftovers: " + ", ".join(f"{c} {n}" for c, n in leftovers.most_common(15)))
    for example in wrong_examples:
        print(f"  wrongly: {example}")
    print(f"total {time.perf_counter() - started:.0f} s")
    headline("tex_residue", wrong_total, "abstracts", "0 outside math KaTeX rejects",
             wrong_total == 0)


if __name__ == "__main__":
    sys.exit(main())
