from dailypapers.web.filters import excerpt, short_authors
from dailypapers.web.mathtext import math_markup, split_math


def test_inline_display_and_escaped_dollars():
    assert split_math(r"A $x^2$ and $$\sum_i a_i$$ cost \$5.") == [
        ("text", "A "), ("inline", "x^2"), ("text", " and "), ("display", r"\sum_i a_i"),
        ("text", " cost $5."),
    ]
    assert split_math(r"see \(a+b\) and \[c\]") == [
        ("text", "see "), ("inline", "a+b"), ("text", " and "), ("display", "c"),
    ]


def test_prices_are_not_math():
    for text in ("costs $10 and $20 each", "under $5, about $1.47 million", "a $ b $ c", "<$10 budget"):
        assert [kind for kind, _ in split_math(text)] == ["text"], text


def test_markup_escapes_text_and_math():
    html = str(math_markup("<b>bold</b> $a<b$ \\textsc{Lévy}"))
    assert "<b>" not in html
    assert '<span class="math" data-display="0">a&lt;b</span>' in html
    assert "Lévy" in html and "textsc" not in html


def test_excerpt_never_splits_inline_math():
    text = "Intro words " + "$" + "x " * 200 + "$ tail"
    cut = excerpt(text, 40)
    assert cut.count("$") % 2 == 0 and cut.endswith("…")


def test_short_authors():
    authors = [{"name": n} for n in "ABCDEFG"]
    assert short_authors(authors[:3]) == "A, B, C"
    assert short_authors(authors) == "A, B, C, … G (+3 more)"
    assert short_authors([{"name": "A"}, {"name": "H", "hidden": True}]) == "A"
