"""TeX outside math read node by node against the whole-segment walk: same text, how much faster.

    python bench/textex_equal.py [--fuzz N] [--raw-sample N] [--limit-files N]

dailypapers/web/textex.py converts the text between formulas with pylatexenc. It used to walk
each segment whole (``_tex_to_text_whole``, kept as the reference); ``tex_to_text`` now jumps
over plain text with a regular expression and lets pylatexenc read only the nodes that start at a
TeX character (``_convert_by_nodes``; text that is mostly TeX is still walked whole). This
script runs both, uncached, and the node-by-node reading forced on every text, on:

- segments: every text segment mathtext.py hands to textex (split_math, then unstrip_math, as
  math_markup does) of every title and abstract in ../shared/data/hf-daily (7,414 papers) and
  ../shared/data/arxiv/oai-pmh-cs-2016 (102,538 papers), read with the project's own parsers;
  only those with TeX count (the others pass through both untouched);
- raw: whole titles and abstracts, formulas included (not what textex receives, but hard TeX
  for the walk): all of hf-daily, and ``--raw-sample`` arXiv abstracts with a ``$`` or ``\\``
  (every k-th, deterministic);
- fuzz: ``--fuzz`` random strings (seeded) of macros (known, unknown, with and without
  arguments, after spaces and newlines), braces (balanced or not, deep), ``%``, ``~``, TeX quotes,
  dashes, dollars, ``\\(``/``\\[``, environments, ``\\verb``, a trailing backslash, blank lines.

Prints per corpus the count, the differences (the first few shown) and the time old and new,
and ends with ``textex_speedup: X x (target ≥ 3 x, 0 differences)``, X being old CPU time / new
CPU time on the real segments; exits 1 on any difference or a speed-up under 3.
"""

from __future__ import annotations

import argparse
import logging
import random
import time

from _util import corpus_files, headline, papers_in

from dailypapers.web import textex  # noqa: E402
from dailypapers.web.mathtext import split_math  # noqa: E402


def read_texts(limit_files: int | None) -> tuple[list[str], list[str]]:
    """(hf-daily titles and abstracts, arXiv OAI titles and abstracts)."""
    def texts(paths: list) -> list[str]:  # type: ignore[type-arg]
        return [t for paper in papers_in(paths) for t in (paper.title, paper.abstract) if t]

    hf_files, oai_files = corpus_files(limit_files)
    return texts(hf_files), texts(oai_files)

def segments(texts: list[str]) -> list[str]:
    """The text segments mathtext.math_markup passes to tex_to_text, those with TeX."""
    out = []
    for text in texts:
        for kind, content in split_math(text):
            if kind != "text":
                kind, content = textex.unstrip_math(content)
            if kind == "text" and textex._looks_like_tex(content):
                out.append(content)
    return out


_KNOWN = sorted({spec.macroname for spec in textex._WALKER_DB.iter_macro_specs()}
                | {spec.macroname for spec in textex._TEXT_DB.iter_macro_specs()})
_ENVS = ["itemize", "equation", "verbatim", "foo", "abstract", "tabular", "enumerate"]
_WORDS = ["model", "the", "a", "69.4", "x", "U", "o", "e", "Lévy", "net's", "2", "re", "i", "de"]
_SPACES = [" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n ", "\n \n"]
_BITS = ["{", "}", "{", "}", "[", "]", "%", "\\%", "~", "``", "''", "'", "`", "--", "---", "-",
         "!`", "?`", "$", "$$", "\\$", "\\(", "\\)", "\\[", "\\]", "&", "\\&", "#", "^", "_",
         "\\\\", "\\\\%", "\\ ", "\\,", "\\\"", "\\'", "\\^", "\\~", "\\=", "\\.", "\\c", "\\v",
         "\\H", "\\o", "\\i", "\\ss", "\\verb|a {b|", "\\verb+%x+", "\ue000", "\ue003", "(", ")"]


def fuzz_string(rnd: random.Random) -> str:
    parts = []
    for _ in range(rnd.randint(1, 60)):
        roll = rnd.random()
        if roll < 0.25:
            parts.append(rnd.choice(_WORDS))
        elif roll < 0.45:
            parts.append(rnd.choice(_SPACES))
        elif roll < 0.62:
            parts.append("\\" + rnd.choice(_KNOWN))
        elif roll < 0.67:
            parts.append("\\" + rnd.choice(["ours", "etal", "it", "bf", "em", "foo", "today",
                                              "begin", "end", "item", "S"]))
        elif roll < 0.70:
            parts.append(f"\\{rnd.choice(['begin', 'end'])}{{{rnd.choice(_ENVS)}}}")
        elif roll < 0.72:
            depth = rnd.choice([1, 2, 3, 8, 40])
            parts.append("{" * depth + rnd.choice(_WORDS) + "}" * rnd.choice([depth, depth - 1]))
        else:
            parts.append(rnd.choice(_BITS))
    text = "".join(parts)
    if rnd.random() < 0.05:
        text += "\\"  # a trailing backslash
    if not textex._looks_like_tex(text):
        text = "\\" + text
    return text


def compare(name: str, texts: list[str]) -> tuple[float, float, int]:
    """(CPU seconds whole, CPU seconds as tex_to_text now reads, differences), uncached; the
    texts are also read node by node with the density cut-off off, and must all be the same.
    CPU time of this process: the machine is shared, wall time swings with its load."""
    t0 = time.process_time()
    old = [textex._tex_to_text_whole(t) for t in texts]
    t1 = time.process_time()
    new = [textex.tex_to_text.__wrapped__(t) for t in texts]
    t2 = time.process_time()
    dense, textex._DENSE_TEX = textex._DENSE_TEX, 0  # and every text node by node, however dense
    forced = [textex.tex_to_text.__wrapped__(t) for t in texts]
    textex._DENSE_TEX = dense
    differ = [(t, a, b if a != b else c) for t, a, b, c in zip(texts, old, new, forced)
              if not a == b == c]
    chars = sum(map(len, texts)) or 1
    n = len(texts) or 1
    print(f"{name:>13}: {len(texts):>6,} texts, {chars:>10,} chars; whole {t1 - t0:6.2f} s "
          f"({(t1 - t0) / n * 1e6:7.0f} µs a text), by nodes {t2 - t1:6.2f} s "
          f"({(t2 - t1) / n * 1e6:6.0f} µs a text): {(t1 - t0) / max(t2 - t1, 1e-9):5.1f} x, "
          f"{len(differ)} differences")
    for text, a, b in differ[:5]:
        print(f"    in {text[:200]!r}\n    whole {a[:200]!r}\n    nodes {b[:200]!r}")
    return t1 - t0, t2 - t1, len(differ)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz", type=int, default=5000, help="random TeX strings (seed 1)")
    parser.add_argument("--raw-sample", type=int, default=5000,
                        help="whole arXiv abstracts (with their formulas) to compare as well")
    parser.add_argument("--limit-files", type=int, default=None,
                        help="only the first N files of each folder (a quick look)")
    args = parser.parse_args()
    logging.getLogger("pylatexenc").setLevel(logging.ERROR)  # its notes on odd input, both ways
    started = time.perf_counter()
    hf, oai = read_texts(args.limit_files)
    print(f"read {len(hf):,} hf-daily and {len(oai):,} arXiv titles and abstracts in "
          f"{time.perf_counter() - started:.1f} s")
    old_real = new_real = 0.0
    differences = 0
    for name, texts in (("hf segments", segments(hf)), ("arxiv segments", segments(oai))):
        old, new, differ = compare(name, texts)
        old_real, new_real, differences = old_real + old, new_real + new, differences + differ
    oai_tex = [t for t in oai if "$" in t or "\\" in t]
    step = max(1, len(oai_tex) // max(1, args.raw_sample))
    rnd = random.Random(1)
    for name, texts in (("hf raw", [t for t in hf if textex._looks_like_tex(t)]),
                        ("arxiv raw", oai_tex[::step][:args.raw_sample]),
                        ("fuzz", [fuzz_string(rnd) for _ in range(args.fuzz)])):
        differences += compare(name, texts)[2]
    speedup = old_real / max(new_real, 1e-9)
    print(f"real segments: whole {old_real:.1f} s, by nodes {new_real:.1f} s (CPU); "
          f"total {time.perf_counter() - started:.0f} s")
    headline("textex_speedup", speedup, "x", f"≥ 3 x, {differences} differences",
             speedup >= 3 and differences == 0)


if __name__ == "__main__":
    main()
