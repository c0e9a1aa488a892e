"""TeX outside math shown as text (dailypapers/web/textex.py through mathtext's `math` filter and
the search snippets), math left to KaTeX, the stored text unchanged, arXiv's text preferred."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import read_transaction
from dailypapers.db.schema import papers
from dailypapers.ingest.files import import_paths
from dailypapers.ingest.records import SOURCE_OAI, PaperRecord, ParsedItem
from dailypapers.web.mathtext import math_markup, split_math, wrap_math
from dailypapers.web import textex
from dailypapers.web.textex import MAX_CONVERT, tex_to_html, tex_to_text, unstrip_math
from tests.helpers import hf_item, store, write_json


@pytest.mark.parametrize("tex, text", [
    (r"a 69.4\% success rate", "a 69.4% success rate"),
    (r"(\"Ust\"un et al.)", "(Üstün et al.)"),
    (r"G\"{o}del, Erd\H{o}s, Fran\c{c}ois, \v{S}koda, Caf\'e",
     "Gödel, Erdős, François, Škoda, Café"),
    (r"{\it Shallow UNet} and {\bf Deep} and {\sc Caps}", "Shallow UNet and Deep and Caps"),
    (r"\emph{x}, \textbf{y}, \textit{z}, \texttt{code}, \textsc{Lévy}", "x, y, z, code, Lévy"),
    (r"R\&D, snake\_case, \#1, \{set\}", "R&D, snake_case, #1, {set}"),
    (r"A \LaTeX{} and \TeX\ note", "A LaTeX and TeX note"),
    (r"see \url{https://a.example/x} or \href{https://b.example}{the site}",
     "see https://a.example/x or the site (https://b.example)"),
    (r"as shown \cite{smith20,lee21}", "as shown [smith20,lee21]"),
    (r"5 -- 6 and ``quoted'' \%", "5 – 6 and “quoted” %"),  # with a backslash: TeX
    ("makes agents more ``introverted'' by", "makes agents more “introverted” by"),  # alone too
])
def test_escapes_accents_and_font_commands_become_text(tex: str, text: str) -> None:
    assert tex_to_text(tex) == text


def test_a_bare_percent_is_text_and_the_rest_of_its_line_is_converted_too() -> None:
    # In TeX a bare % would hide the rest of the line as a comment; in abstracts it is a percent.
    assert tex_to_text(r"99.51% of stars to i $\sim$21.3 and \cite{TPR}") == \
        "99.51% of stars to i $∼$21.3 and [TPR]"


def test_the_space_after_a_symbol_stays_and_letters_join() -> None:
    assert tex_to_text(r"T_c \sim \exp(\alpha N), \det A, x \times 3, \o re") == \
        "T_c ∼ exp(α N), det A, x × 3, øre"


def test_display_environments_outside_dollars_go_to_katex() -> None:
    text = (r"bound: \begin{equation*} W \lesssim \eta \end{equation*} where "
            r"\begin{eqnarray} x &=& y \end{eqnarray} and \begin{itemize} \item a")
    assert split_math(text) == [
        ("text", "bound: "), ("display", r"\begin{equation*} W \lesssim \eta \end{equation*}"),
        ("text", " where "), ("display", r"\begin{array}{rcl} x &=& y \end{array}"),
        ("text", r" and \begin{itemize} \item a"),  # not math; unclosed: text
    ]
    unclosed = r"\begin{equation} x " + "y " * 2000 + r"\end{equation}"  # past MAX_ENV: text
    assert [kind for kind, _ in split_math(unclosed)] == ["text"]


@pytest.mark.parametrize("text", [
    "50% of cases, ~10x faster, A & B",  # plain text passes untouched (no TeX comment, no tie)
    "costs $10 and $20",
])
def test_plain_text_is_unchanged(text: str) -> None:
    assert tex_to_text(text) == text
    assert str(math_markup(text)) == text.replace("&", "&amp;")


def test_nothing_is_lost_unknown_commands_and_today_stay_as_written() -> None:
    assert tex_to_text(r"\ours{} beats \baseline by 3\% \today") == \
        r"\ours beats \baseline by 3% \today"
    assert "~" in tex_to_text(r"about~10\% more")  # a tie in TeX, "about" in abstracts


def test_what_cannot_be_read_is_shown_as_received() -> None:
    deep = "{" * 5000 + "x"  # pylatexenc recurses per group
    assert tex_to_text(deep) == deep
    huge = r"\% " * (MAX_CONVERT // 3 + 1)  # past the cap: as received, not seconds of work
    assert tex_to_text(huge) == huge
    fits = r"\% " * (MAX_CONVERT // 3)
    assert tex_to_text(fits) == "% " * (MAX_CONVERT // 3)
    assert tex_to_text(r"\'\author x") == r"\'\author x"  # pylatexenc's rule needs arguments


# tex_to_text reads only the TeX (textex._convert_by_nodes): each case is one its cuts between
# plain text and TeX nodes could get wrong; the whole-segment walk is the reference.
@pytest.mark.parametrize("tex, text", [
    # a group reaching far, with TeX inside; a style switch running to the group's end
    (r"see {\it a long phrase with \% and ``quotes'' -- inside} end",
     "see a long phrase with % and “quotes” – inside end"),
    (r"{\bf Deep and \it Shallow} models", "Deep and Shallow models"),
    # arguments after spaces and line breaks, an optional one before them
    ("\\textbf \n {bold} words and \\\"   U and \\'\ne", "bold words and Ü and é"),
    ("\\href {https://a.example} \n {the site} now", "the site (https://a.example) now"),
    (r"as in \cite [p.~3] {smith} and \\ [2pt] next", "as in [smith] and \n [2pt] next"),
    # a comment (after \\, not a bare %) ends its line and the indentation after it
    ("a 2% error, \\\\% a comment\n    next \\% line", "a 2% error, \n% a comment\nnext % line"),
    # TeX quotes and dashes are read as pylatexenc's specials, lone quotes are not
    (r"``a'' and don''t, rock'n'roll, `single' and ?`no!` \%",
     "“a” and don”t, rock'n'roll, `single' and ¿no¡ %"),
    (r"5--6 and 7---8 with \%", "5–6 and 7—8 with %"),
    (r"about~10\% and R\&D", "about~10% and R&D"),
    # a backslash ending the text goes with the spaces before it; an escaped one stays
    ("a \\% b \\", "a % b"),
    ("a \\% b  \\\\", "a % b  \n"),
    # unbalanced braces: a stray closing one is dropped, an unclosed group runs to the end
    (r"a } b \% c", "a  b % c"),
    (r"{ a \% b", " a % b"),
    # a blank line after a command, \verb, an environment, unclosed math: as the whole walk
    ("\\it\n\nnext para \\%", "\n\nnext para %"),
    (r"\verb|{x| and \% after", "{x and % after"),
    (r"\begin{itemize} \item a \item[b] c \end{itemize} after \%", " \n  * a \n  b c  after %"),
    (r"\( x \% y", r"\( x \% y"),
    (r"costs $5 and \% more", "costs $5 and % more"),
    (r"\o re and \ss{} and \i\ x", "øre and ß and ı x"),
])
def test_reading_only_the_tex_gives_the_whole_walks_text(
    tex: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert textex._tex_to_text_whole(tex) == text
    monkeypatch.setattr(textex, "_DENSE_TEX", 0)  # node by node however dense the TeX
    assert tex_to_text.__wrapped__(tex) == text


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    method = getattr(textex.latexwalker.LatexWalker, name)

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return method(self, *args, **kwargs)

    monkeypatch.setattr(textex.latexwalker.LatexWalker, name, counted)
    return calls


def test_plain_text_around_tex_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = _count_calls(monkeypatch, "get_token")
    abstract = "We train a model. " * 100 + r"It reaches 69.4\% on {\it ImageNet}." + " More." * 50
    assert tex_to_text.__wrapped__(abstract) == abstract.replace(r"69.4\%", "69.4%").replace(
        r"{\it ImageNet}", "ImageNet")
    assert len(tokens) < 20  # the TeX's tokens, not the 2,100 characters'


def test_text_that_is_mostly_tex_is_walked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    walks = _count_calls(monkeypatch, "get_latex_nodes")
    assert tex_to_text.__wrapped__(r"\%  " * 30) == "%  " * 30  # a node every 4 characters
    assert len(walks) == 30
    walks.clear()
    assert tex_to_text.__wrapped__(r"\% " * 30) == "% " * 30  # every 3: one walk is cheaper
    assert len(walks) == 1


def test_maketitle_stays_as_written() -> None:
    # pylatexenc's would print a title another abstract set, the converter being shared
    tex_to_text(r"\title{Another paper}")
    assert tex_to_text(r"as in \maketitle") == r"as in \maketitle"


def test_math_still_goes_to_katex_untouched() -> None:
    html = str(math_markup(r"We get 69.4\% on $\mathcal{O}(n \log n)$ and $$\sum_i \%_i$$."))
    doc = lxml.html.fromstring(f"<p>{html}</p>")
    assert [m.text for m in doc.cssselect("span.math")] == [
        r"\mathcal{O}(n \log n)", r"\sum_i \%_i"]
    assert doc.text_content().startswith("We get 69.4% on ")


def test_hugging_face_stripped_math_renders_sensibly() -> None:
    assert unstrip_math("textbf{specialist}") == ("text", "specialist")
    assert unstrip_math("mathcal{O}(n^2)") == ("math", r"\mathcal{O}(n^2)")
    assert unstrip_math(r"\textbf{x}") == ("math", r"\textbf{x}")  # not stripped: KaTeX's
    assert unstrip_math("x_{text}") == ("math", "x_{text}")  # a word, not a command
    html = str(math_markup("a $textbf{specialist}$ model in $mathcal{O}(n)$ time"))
    doc = lxml.html.fromstring(f"<p>{html}</p>")
    assert doc.text_content() == r"a specialist model in \mathcal{O}(n) time"
    assert [m.text for m in doc.cssselect("span.math")] == [r"\mathcal{O}(n)"]


def test_search_highlights_survive_the_conversion() -> None:
    marked = r"reach 69.4\% with {\it <mark>Shallow</mark> UNet} &amp; \&amp; (\&quot;Ust\&quot;un)"
    assert str(wrap_math(marked)) == \
        "reach 69.4% with <mark>Shallow</mark> UNet &amp; &amp; (Üstün)"
    # A mark the conversion would drop (inside a discarded argument): the snippet as it came.
    dropped = r"\vspace{<mark>2em</mark>} text"
    assert tex_to_html(dropped) == dropped
    quoted = "more ``<mark>introverted</mark>&#39;&#39; by"  # the quotes alone, escaped
    assert str(wrap_math(quoted)) == "more “<mark>introverted</mark>” by"
    plain = "plain <mark>words</mark> &lt;b&gt;"
    assert str(wrap_math(plain)) == plain


# --- pages ------------------------------------------------------------------------------------


def _doc(response):  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    return lxml.html.fromstring(response.text)


def test_a_paper_page_shows_69_4_percent_and_the_stored_text_stays(
    client, engine: sa.Engine, tmp_path: Path
) -> None:
    item = hf_item("2603.00050", title=r"Shallow UNets by \"Ust\"un")
    item["paper"]["summary"] = r"We reach a 69.4\% success rate with {\it Shallow UNet} and $x^2$."
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [item])])

    doc = _doc(client.get("/papers/2603.00050"))

    abstract = doc.cssselect("section.abstract p")[0]
    assert "a 69.4% success rate with Shallow UNet and" in abstract.text_content()
    assert "\\" not in abstract.text_content().replace(abstract.cssselect("span.math")[0].text, "")
    assert doc.cssselect("h1.paper-title")[0].text_content() == "Shallow UNets by Üstün"
    card = _doc(client.get("/papers/date/2026-03-02")).cssselect("article.card")[0]
    assert "69.4%" in card.cssselect(".excerpt")[0].text_content()
    with read_transaction(engine) as conn:  # display only: the stored text is as received
        stored = conn.execute(sa.select(papers.c.abstract)).scalar_one()
    assert stored == item["paper"]["summary"]
    marked = _doc(client.get("/search", params={"q": "shallow", "mode": "keyword"}))
    snippet = lxml.html.tostring(marked.cssselect("main")[0], encoding="unicode")
    assert "69.4%" in snippet and r"69.4\%" not in snippet
    assert "<mark>Shallow</mark> UNet" in snippet


@pytest.mark.parametrize("order", ["hf first", "arxiv first"])
def test_the_arxiv_text_is_shown_where_both_exist(
    client, engine: sa.Engine, tmp_path: Path, order: str
) -> None:
    hf = hf_item("2603.00060", title="A specialist model")
    hf["paper"]["summary"] = "A $textbf{specialist}$ model reaches 69.4% accuracy."  # HF's
    arxiv = ParsedItem(PaperRecord(
        arxiv_id="2603.00060", source=SOURCE_OAI, version=1, title="A specialist model",
        abstract=r"A \textbf{specialist} model reaches 69.4\% accuracy on $\mathcal{D}$.",
        submitted_at="2026-03-01"))
    hf_file = write_json(tmp_path / "2026-03-02.json", [hf])
    if order == "hf first":
        import_paths(engine, [hf_file])
        store(engine, [arxiv])
    else:
        store(engine, [arxiv])
        import_paths(engine, [hf_file])

    abstract = _doc(client.get("/papers/2603.00060")).cssselect("section.abstract p")[0]

    assert [m.text for m in abstract.cssselect("span.math")] == [r"\mathcal{D}"]  # arXiv's
    assert abstract.text_content() == r"A specialist model reaches 69.4% accuracy on \mathcal{D}."
