"""TeX outside math as the text it stands for: ``69.4\\%`` → 69.4%, ``\\"U`` → Ü, ``{\\it x}`` → x.

For display only (dailypapers/web/mathtext.py calls it on the text between formulas); the stored
text stays as received. pylatexenc does the reading, with these choices:

- A control sequence it does not know (an author's ``\\ours``, ``\\etal``) stays as written, so
  nothing the abstract says is lost; one it knows with arguments (``\\texttt{x}``) keeps them.
- ``~`` stays ``~``: arXiv shows abstracts as plain text and authors write ``~10%`` for
  "about 10%" more often than a TeX tie. A bare ``%`` starts no comment (``2% error`` is text,
  and the rest of its line is converted too).
- ``\\today`` and ``\\maketitle`` stay as written (it is not the day we render the page).
- Only text with a backslash, a brace or TeX's opening quote (````like this''``, common in arXiv
  abstracts without any other TeX) is converted: plain text passes through untouched. pylatexenc
  reads ~5 µs a character, so it reads only the TeX in it (``_convert_by_nodes``: ~0.4 µs a
  character of an arXiv abstract, the same text as the whole walk); text that is all TeX still
  costs 5 µs a character (linear: 0.05 s for 10,000 characters), so a segment longer than
  MAX_CONVERT (the longest abstract the import keeps) is shown as received.
  Results are cached: pages show the same titles and excerpts again and again.
"""

from __future__ import annotations

import functools
import html
import re

from pylatexenc import latexwalker
from pylatexenc.latex2text import (
    LatexNodes2Text,
    MacroTextSpec,
    SpecialsTextSpec,
    get_default_latex_context_db,
)
from pylatexenc.macrospec import MacroSpec

MAX_CONVERT = 20_000
_BARE_PERCENT = re.compile(r"(?<!\\)%")

# Font, size and spacing switches pylatexenc does not list (it drops unknown macros; we keep them).
_SWITCHES = ("it bf sc em rm sf tt sl up md normalfont itshape bfseries scshape mdseries upshape "
             "slshape rmfamily sffamily ttfamily tiny scriptsize footnotesize small normalsize "
             "large Large LARGE huge Huge noindent xspace par centering raggedright bigskip "
             "medskip smallskip linebreak nolinebreak pagebreak allowbreak hfill vfill protect "
             "relax cal mit left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr "
             "displaystyle textstyle").split()


def _arg_text(node, l2tobj, index: int) -> str:  # type: ignore[no-untyped-def]
    args = node.nodeargd.argnlist if node.nodeargd else []
    arg = args[index] if -len(args) <= index < len(args) else None
    return l2tobj._groupnodecontents_to_text(arg) if arg is not None else ""


_TEXT_DB = get_default_latex_context_db()
_TEXT_DB.add_context_category("dailypapers", prepend=True, macros=[
    MacroTextSpec("today", simplify_repl=lambda n, l2tobj=None: n.latex_verbatim()),
    # pylatexenc's would print a \title and \author another abstract set (the converter is
    # shared) and today's date.
    MacroTextSpec("maketitle", simplify_repl=lambda n, l2tobj=None: n.latex_verbatim()),
    MacroTextSpec("LaTeX", simplify_repl="LaTeX"),
    MacroTextSpec("TeX", simplify_repl="TeX"),
    MacroTextSpec("S", simplify_repl="§"),
    MacroTextSpec("href", simplify_repl=lambda n, l2tobj=None:
                  f"{_arg_text(n, l2tobj, 1)} ({_arg_text(n, l2tobj, 0)})"),
    MacroTextSpec("url", simplify_repl=lambda n, l2tobj=None: _arg_text(n, l2tobj, 0)),
    MacroTextSpec("cite", simplify_repl=lambda n, l2tobj=None: f"[{_arg_text(n, l2tobj, -1)}]"),
    MacroTextSpec("ref", simplify_repl=lambda n, l2tobj=None: _arg_text(n, l2tobj, -1)),
    *(MacroTextSpec(name, discard=True) for name in _SWITCHES),
    # Math operators pylatexenc lacks, met outside dollars: their names.
    *(MacroTextSpec(name, simplify_repl=name) for name in
      ("deg", "det", "dim", "ker", "arg", "hom", "gcd", "Pr", "lg", "argmax", "argmin")),
    MacroTextSpec("ne", simplify_repl="≠"),
    MacroTextSpec("bmod", simplify_repl=" mod "),
    # Abbreviations so common in papers' own macros that their meaning is not in doubt.
    MacroTextSpec("eg", simplify_repl="e.g."), MacroTextSpec("ie", simplify_repl="i.e."),
    MacroTextSpec("etal", simplify_repl="et al."), MacroTextSpec("etc", simplify_repl="etc."),
], specials=[SpecialsTextSpec("~", "~"), SpecialsTextSpec("&", "&")])
_WALKER_DB = latexwalker.get_default_latex_context_db()
_WALKER_DB.add_context_category("dailypapers", prepend=True, macros=[
    MacroSpec("href", "{{"), MacroSpec("LaTeX", ""), MacroSpec("TeX", ""), MacroSpec("S", ""),
    *(MacroSpec(name, "") for name in ("deg", "det", "dim", "ker", "arg", "hom", "gcd", "Pr",
                                       "lg", "argmax", "argmin", "bmod", "eg", "ie", "etal", "etc",
                                       "ne")),
    *(MacroSpec(name, "{") for name in ("textsuperscript", "textsubscript", "textup", "textmd",
                                         "textnormal", "textsl", "mbox", "hbox", "fbox")),
])


# Letters written as commands: TeX joins them to the next word (``\o re`` is "øre").
_LETTERS = frozenset("o O ss ae AE oe OE aa AA l L i j".split())


class _Converter(LatexNodes2Text):
    def macro_node_to_text(self, node):  # type: ignore[no-untyped-def]
        if self.latex_context.get_macro_spec(node.macroname) is not None:
            text = super().macro_node_to_text(node)
            # TeX eats the space after a control word; a reader needs it: "∼ exp", "det A".
            if (text and not text[-1].isspace() and getattr(node, "macro_post_space", "")
                    and not (node.nodeargd and node.nodeargd.argnlist)
                    and node.macroname not in _LETTERS):
                text += " "
            return text
        args = [a for a in (node.nodeargd.argnlist if node.nodeargd else None) or [] if a]
        if args:  # a font or markup command we have no rule for: its words
            return "".join(self._groupnodecontents_to_text(a) for a in args)
        return node.latex_verbatim()  # unknown: as written


_CONVERTER = _Converter(latex_context=_TEXT_DB, math_mode="verbatim", keep_comments=True,
                        strict_latex_spaces=True)


def _looks_like_tex(text: str) -> bool:
    return "\\" in text or "{" in text or "``" in text


# AttributeError: pylatexenc's own rules assume arguments a macro may not get (\'\author).
_UNREADABLE = (RecursionError, IndexError, ValueError, TypeError, KeyError, AttributeError,
               latexwalker.LatexWalkerError)


@functools.lru_cache(maxsize=8192)
def tex_to_text(segment: str) -> str:
    """The text a TeX fragment (with no math in it) shows; as received when it cannot be read."""
    return _tex_to_text(segment, by_nodes=True)


def _tex_to_text_whole(segment: str) -> str:
    """``tex_to_text`` walking the whole segment at once, uncached: the reference the faster
    ``_convert_by_nodes`` must equal (bench/textex_equal.py and tests/test_textex.py)."""
    return _tex_to_text(segment, by_nodes=False)


def _tex_to_text(segment: str, by_nodes: bool) -> str:
    if not _looks_like_tex(segment) or len(segment) > MAX_CONVERT:
        return segment
    # A ``$`` left in text is a literal dollar (mathtext decided): keep it from opening math. A
    # bare ``%`` is a percent sign ("2% error"), not a comment hiding the rest of the line.
    protected = _BARE_PERCENT.sub("\ue003", segment.replace("$", "\ue000"))
    text = None
    # Text that is mostly TeX (a node every few characters) is read faster in one walk.
    if by_nodes and len(_NODE_START.findall(protected)) * _DENSE_TEX <= len(protected):
        try:
            text = _convert_by_nodes(protected)
        except (_NoProgress, *_UNREADABLE):
            pass  # the whole walk decides, from the same stack depth
    if text is None:
        try:
            text = _convert_whole(protected)
        except _UNREADABLE:  # deep nesting, a malformed macro: as received
            return segment
    return text.replace("\ue000", "$").replace("\ue003", "%")


def _walker(protected: str) -> latexwalker.LatexWalker:
    return latexwalker.LatexWalker(protected, latex_context=_WALKER_DB, tolerant_parsing=True)


def _convert_whole(protected: str) -> str:
    return _CONVERTER.nodelist_to_text(_walker(protected).get_latex_nodes()[0])


# Where pylatexenc's top-level walk can meet anything but a plain character: a control sequence,
# a brace, a comment (after \\), a dollar or one of its "specials" (--, ``, '', ~, &).
_SPECIALS = sorted({chars for category in _WALKER_DB.category_list
                    for chars in _WALKER_DB.d[category]["specials"]}, key=len, reverse=True)
# (A control sequence is matched whole only so that findall counts it once.)
_NODE_START = re.compile("|".join([r"\\(?:[^\W\d_]+|.)?", r"[{}%$]", *map(re.escape, _SPECIALS)]),
                         re.S)
_DENSE_TEX = 4  # characters a node: the walk's ~20 µs a call against ~5 µs a character


class _NoProgress(Exception):
    """A backslash ends the text: the whole walk drops it and the spaces before it, which
    ``_convert_by_nodes`` has already copied."""


def _convert_by_nodes(protected: str) -> str:
    """``_convert_whole``'s text at a fraction of its cost (~10 x on arXiv abstracts with TeX).

    pylatexenc reads plain text a character at a time (~5 µs each: it tests every "special" at
    each). Here a regular expression jumps to the next character where its walk could start
    anything else, and pylatexenc reads the one node starting there (a macro with its
    arguments however far they reach, a group, an environment, a comment), exactly as its whole
    walk would: from the same position, in the same state (the walk carries none from one
    top-level node to the next). Between nodes there are only plain characters and spaces,
    which the converter gives back unchanged (strict spaces: none added or removed), and its
    text for a list of nodes is the texts of the nodes joined, in the same order."""
    walker = _walker(protected)
    out: list[str] = []
    pos = 0
    while (start := _NODE_START.search(protected, pos)) is not None:
        out.append(protected[pos:start.start()])
        nodes, _, length = walker.get_latex_nodes(pos=start.start(), read_max_nodes=1)
        if length <= 0:  # a backslash ending the text
            raise _NoProgress
        out.append(_CONVERTER.nodelist_to_text(nodes))
        pos = start.start() + length
    out.append(protected[pos:])
    return "".join(out)


_MARK_OPEN, _MARK_CLOSE = "\ue001", "\ue002"


def tex_to_html(escaped: str) -> str:
    """``tex_to_text`` for escaped HTML whose only tags are ``<mark>``/``</mark>`` (a search
    highlight): the marks stay around the words they marked. If converting would lose or
    unbalance a mark (one inside a dropped argument), the segment is returned as it came."""
    if not _looks_like_tex(escaped):
        return escaped
    plain = html.unescape(escaped.replace("<mark>", _MARK_OPEN).replace("</mark>", _MARK_CLOSE))
    text = tex_to_text(plain)
    marks = re.sub(f"[^{_MARK_OPEN}{_MARK_CLOSE}]", "", text)
    if marks != re.sub(f"[^{_MARK_OPEN}{_MARK_CLOSE}]", "", plain) or \
            marks.replace(_MARK_OPEN + _MARK_CLOSE, "") != "":
        return escaped
    return (html.escape(text, quote=True)
            .replace(_MARK_OPEN, "<mark>").replace(_MARK_CLOSE, "</mark>"))


# Hugging Face strips the backslashes from math: `$textbf{specialist}$`, `$mathcal{O}(n)$`.
_STRIPPED = re.compile(r"(?<![A-Za-z\\])(text(?:bf|it|rm|sf|tt|sc)?|emph|underline|"
                       r"math(?:bf|cal|rm|it|sf|tt|bb|frak)|boldsymbol|operatorname)\{")
_WHOLE_TEXT = re.compile(r"(?:text(?:bf|it|rm|sf|tt|sc)?|emph|underline)\{([^{}$\\]*)\}")


def unstrip_math(content: str) -> tuple[str, str]:
    """("math", formula) with stripped backslashes put back, or ("text", words) when the whole
    formula was only a text command (`$textbf{specialist}$` is the word "specialist")."""
    if "\\" in content or not _STRIPPED.search(content):
        return "math", content
    if whole := _WHOLE_TEXT.fullmatch(content.strip()):
        return "text", whole.group(1)
    return "math", _STRIPPED.sub(r"\\\1{", content)
