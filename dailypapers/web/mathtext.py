"""Find the LaTeX in titles and abstracts on the server, so the browser renders only real math.

Abstracts mix math with prices ("costs $10 and $20"), so ``$`` follows pandoc's rule: an opening
``$`` has a non-space right after it, a closing ``$`` has a non-space right before it and no digit
right after it. ``\\$`` is a literal dollar. ``$$…$$`` and ``\\[…\\]`` are display math, ``\\(…\\)``
inline. Everything is escaped; math goes into ``<span class="math">`` for KaTeX.

Outside math, TeX becomes the text it stands for (dailypapers/web/textex.py: ``69.4\\%`` → 69.4%,
``\\"U`` → Ü, ``{\\it x}`` → x), for display only: the stored text stays as received.
"""

from __future__ import annotations

import functools
import re

from markupsafe import Markup, escape

from dailypapers.web.textex import tex_to_html, tex_to_text, unstrip_math

MAX_MATH = 400  # longer "math" is almost surely two unrelated dollar signs
MAX_ENV = 2000  # a displayed environment may be longer (arXiv abstracts: up to ~600 characters)
_SPECIAL = re.compile(r"[\\$]")  # the characters math can start at
# Display environments some arXiv abstracts use outside dollars (KaTeX typesets these itself).
_MATH_ENV = re.compile(r"\\begin\{(equation|align|gather|alignat|multline|eqnarray|displaymath)"
                       r"(\*?)\}")


def split_math(text: str) -> list[tuple[str, str]]:
    """Split into ("text" | "inline" | "display", content) segments."""
    return list(_split_math(text))


@functools.lru_cache(maxsize=8192)
def _split_math(text: str) -> tuple[tuple[str, str], ...]:
    """Kept per text (a pure function, so never stale): this loop was ~45 % of a day page's
    rendering (~1 ms per abstract) when it stepped through every character; it now jumps from
    one backslash or dollar to the next, and every listing shows the same abstracts again."""
    out: list[tuple[str, str]] = []
    buf: list[str] = []
    i, n = 0, len(text)

    def flush() -> None:
        if buf:
            out.append(("text", "".join(buf)))
            buf.clear()

    while i < n:
        special = _SPECIAL.search(text, i)  # jump over plain text: only \\ and $ start anything
        if special is None:
            buf.append(text[i:])
            break
        if special.start() > i:
            buf.append(text[i:special.start()])
            i = special.start()
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                buf.append("$")
                i += 2
                continue
            if nxt == "b" and (env := _math_environment(text, i)):
                flush()
                out.append(("display", env[0]))
                i = env[1]
                continue
            if nxt in "[(":
                close = "\\]" if nxt == "[" else "\\)"
                end = text.find(close, i + 2, i + 2 + MAX_MATH)
                if end != -1 and end - i <= MAX_MATH:
                    flush()
                    out.append(("display" if nxt == "[" else "inline", text[i + 2:end]))
                    i = end + 2
                    continue
        if ch == "$":
            if text.startswith("$$", i):
                end = text.find("$$", i + 2, i + 2 + MAX_MATH)
                if end != -1 and end - i <= MAX_MATH and text[i + 2:end].strip():
                    flush()
                    out.append(("display", text[i + 2:end]))
                    i = end + 2
                    continue
            else:
                end = _closing_dollar(text, i)
                if end != -1:
                    flush()
                    out.append(("inline", text[i + 1:end]))
                    i = end + 1
                    continue
        buf.append(ch)
        i += 1
    flush()
    return tuple(out)


def _math_environment(text: str, start: int) -> tuple[str, int] | None:
    """(formula for KaTeX, end) of a display environment starting at ``start``, if one does."""
    match = _MATH_ENV.match(text, start)
    if not match:
        return None
    name = match.group(1) + match.group(2)
    close = f"\\end{{{name}}}"
    end = text.find(close, match.end(), start + MAX_ENV)
    if end == -1:
        return None
    body = text[match.end():end]
    if match.group(1) == "displaymath":  # not a KaTeX environment: its body is the formula
        return body, end + len(close)
    if match.group(1) == "eqnarray":  # KaTeX has none: the same three columns as an array
        return f"\\begin{{array}}{{rcl}}{body}\\end{{array}}", end + len(close)
    return text[start:end + len(close)], end + len(close)


def _closing_dollar(text: str, start: int) -> int:
    if start + 1 >= len(text) or text[start + 1].isspace():
        return -1
    j = start + 1
    limit = min(len(text), start + 1 + MAX_MATH)
    while j < limit:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "\n" and text[j + 1:j + 2] == "\n":
            return -1
        if c == "$":
            before, after = text[j - 1], text[j + 1:j + 2]
            if not before.isspace() and not after.isdigit():
                return j
            return -1
        j += 1
    return -1


@functools.lru_cache(maxsize=8192)  # pure, like split_math: titles and abstracts come back
def math_markup(text: str | None) -> Markup:
    parts = []
    for kind, content in split_math(text or ""):
        if kind != "text":
            kind, content = unstrip_math(content)
        if kind == "text":
            parts.append(str(escape(tex_to_text(content))))
        else:
            display = "1" if kind == "display" else "0"
            parts.append(f'<span class="math" data-display="{display}">{escape(content)}</span>')
    return Markup("".join(parts))


def wrap_math(html: str) -> Markup:
    """Mark the math in already-escaped HTML (e.g. a highlighted snippet) for KaTeX.

    The browser renders a span's text content, so <mark> tags inside a formula simply vanish
    from it and entities are decoded: nothing is escaped twice. Text between formulas is
    converted like math_markup's, around the <mark> tags.
    """
    parts = []
    for kind, content in split_math(html):
        if kind != "text":
            kind, content = unstrip_math(content)
        if kind == "text":
            parts.append(tex_to_html(content).replace("$", "&#36;"))
        else:
            display = "1" if kind == "display" else "0"
            parts.append(f'<span class="math" data-display="{display}">{content}</span>')
    return Markup("".join(parts))
