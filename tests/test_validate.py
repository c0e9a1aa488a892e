"""The URL check and the record check (dailypapers/ingest/validate.py), without a database.

URLs are written as an attacker would (any case, leading spaces and controls, a tab inside the
scheme, backslashes, credentials) and good ones must come back exactly, so a check that matches
strings, or one that refuses too much, gives a different answer.
"""

from __future__ import annotations

import datetime as dt

import pytest

from dailypapers.ingest.records import (
    SOURCE_HF,
    SOURCE_KAGGLE,
    Author,
    FeatureRecord,
    HubUser,
    Organization,
    PaperRecord,
    ParsedItem,
)
from dailypapers.ingest.validate import (
    MAX_URL_CHARS,
    RecordLimits,
    RecordRefused,
    check_item,
    check_url,
    clean_text,
    safe_url,
)

HOSTILE_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "  javascript:alert(1)",
    "\x01\x02javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "jav\r\nascript:alert(1)",
    "javascript&colon;alert(1)",
    "\u00a0javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:image/svg+xml;base64,PHN2Zz4=",
    "vbscript:msgbox(1)",
    "VBScript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://ok.example/x",
    "mailto:someone@ok.example",
    "//evil.example/x",
    "  //evil.example/x",
    "/\\evil.example/x",
    "https:\\\\evil.example",
    "https://ok.example\\@evil.example/",
    "https://user:pw@ok.example/",
    "https://ok.example@evil.example/",
    "https://@ok.example/",
    "https://",
    "https:///path",
    "https:evil.example",
    "http:/evil.example",
    "https://ok.example:99999/",
    "https://ok.example:port/",
    "http://[evil]/",
    "https://ex%61mple.org/",
    "https://ok.exa\u202emple/",
    "https://ok.example/\u202egnp.exe",
    "https://ok.example/\x00x",
    "https://ok.example/x\u2028y",
    "relative/path.html",
    "/avatars/x.svg",  # a same-site path is only a link where paths are allowed (avatars)
    "?q=1",
    "#top",
    "https://ok.example/" + "a" * MAX_URL_CHARS,
    "https://ok.example/" + "a" * (10 * MAX_URL_CHARS),
]

GOOD_URLS = [
    "https://ok.example/x",
    "http://lab.example.com/",
    "https://github.com/DeepSoftwareAnalytics/Awesome-Issue-Resolution",
    "https://ok.example/x?y=1&z=%20two#frag",
    "https://ok.example/x?",
    "https://ok.example",
    "https://ok.example.:8443/a;b",
    "http://[::1]:8080/x",
    "http://127.0.0.1:8000/papers",
    "https://例え.jp/パス",
    "https://cdn-avatars.huggingface.co/v1/production/uploads/6943e2bb2f/dWfvn0VR-Yv.png",
    "https://ok.example/javascript:alert(1)",  # a path that merely mentions it is a path
    "https://ok.example/" + "a" * (MAX_URL_CHARS - len("https://ok.example/")),
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_urls_are_refused_with_a_reason(url: str) -> None:
    kept, reason = check_url(url)
    assert kept is None
    assert reason
    assert safe_url(url) is None


@pytest.mark.parametrize("url", GOOD_URLS)
def test_good_urls_are_kept_exactly(url: str) -> None:
    assert check_url(url) == (url, None)
    assert safe_url(url, allow_path=True) == url


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("HTTPS://OK.Example/Path?Q=A#F", "https://ok.example/Path?Q=A#F"),
        ("  https://ok.example/x \n", "https://ok.example/x"),
        ("\x00\x1f https://ok.example/x\x7f", "https://ok.example/x"),
        ("https://ok.exa\tmple/a\nb", "https://ok.example/ab"),
        ("https://ok.example/a b", "https://ok.example/a%20b"),
        ('https://ok.example/"><script>', "https://ok.example/%22%3E%3Cscript%3E"),
    ],
)
def test_urls_are_normalised_as_a_browser_would_read_them(raw: str, normalised: str) -> None:
    assert safe_url(raw) == normalised


def test_nothing_there_is_not_a_refusal() -> None:
    for blank in (None, "", "   ", "\t\n"):
        assert check_url(blank) == (None, None)


def test_values_that_are_not_text_are_refused() -> None:
    for value in (123, ["https://ok.example/"], {"url": "https://ok.example/"}, b"https://x.org"):
        kept, reason = check_url(value)
        assert kept is None and "not text" in reason


def test_same_site_paths_only_where_allowed() -> None:
    assert safe_url("/avatars/1fb0d57e.svg", allow_path=True) == "/avatars/1fb0d57e.svg"
    assert safe_url("/avatars/1fb0d57e.svg") is None
    for url in ("//evil.example/a.svg", "/\\evil.example/a.svg", "javascript:alert(1)",
                "relative.svg"):
        assert safe_url(url, allow_path=True) is None, url


def test_the_reasons_name_what_was_wrong() -> None:
    assert "javascript" in check_url("  JaVa\tScript:alert(1)")[1]
    assert "password" in check_url("https://user:pw@ok.example/")[1]
    assert "2,048" in check_url("https://ok.example/" + "a" * 3000)[1]
    assert "backslash" in check_url("https:\\\\evil.example")[1]


# --- text ------------------------------------------------------------------------------------


def test_clean_text_removes_what_hides_or_breaks_and_keeps_the_rest() -> None:
    assert clean_text("a\x00b") == "ab"
    assert clean_text("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    assert clean_text("\u202egnp.exe\u202c \u2066x\u2069 \u200e\u200f\u061c") == "gnp.exe x "
    assert clean_text("a\x1bb\x9bc\x7fd") == "abcd"
    assert clean_text("a\x0bb\x0cc") == "a b c"
    # What text is made of stays: newlines and tabs (titles carry "\n  "), any script, emoji.
    kept = "Line one\n  line two\tπ-Decoding: 한국어 العربية 😀 <b>&amp;</b>"
    assert clean_text(kept) is kept


# --- records ---------------------------------------------------------------------------------


def paper(arxiv_id: str = "2401.00001", **fields: object) -> PaperRecord:
    base: dict[str, object] = dict(
        arxiv_id=arxiv_id, source=SOURCE_HF, title="A title", abstract="An abstract.",
        authors=[Author(name="Ada Lovelace", user=HubUser(username="ada"))],
        github_repo="https://github.com/ok/repo", upvotes=3,
    )
    base.update(fields)
    return PaperRecord(**base)  # type: ignore[arg-type]


def item(p: PaperRecord, **feature: object) -> ParsedItem:
    day = dt.date(2026, 3, 2)
    f = FeatureRecord(arxiv_id=p.arxiv_id, day=day, source=p.source, **feature)  # type: ignore[arg-type]
    return ParsedItem(paper=p, feature=f)


def test_a_clean_record_comes_back_as_it_was_without_notes() -> None:
    original = item(paper(), submitted_by=HubUser(username="grace", avatar_url="/avatars/g.svg"))
    clean, notes = check_item(original)
    assert clean == original
    assert notes == []


def test_strings_are_cleaned_everywhere_in_the_record() -> None:
    hostile = item(
        paper(
            title="Safe\u202e txet\x00 \ud800title",
            abstract="Abs\x00tract \ud83d",
            authors=[Author(name="Ev\u202eil\x00", affiliation="Uni\x1b[31m",
                            user=HubUser(username="u\u2066x", fullname="Full\x00Name"))],
            comments="c\x00", journal_ref="j\ud800", ai_keywords=["k\x00"],
            organization=Organization(name="Org\u202e\x00", fullname="O\u200f"),
        ),
        submitted_by=HubUser(username="sub\u202emitter\x00"),
        organization=Organization(name="Org\u2067"),
    )
    clean, notes = check_item(hostile)
    p, f = clean.paper, clean.feature
    assert p.title == "Safe txet \ufffdtitle"
    assert p.abstract == "Abstract \ufffd"
    assert p.authors[0].name == "Evil"
    assert p.authors[0].affiliation == "Uni[31m"
    assert (p.authors[0].user.username, p.authors[0].user.fullname) == ("ux", "FullName")
    assert (p.comments, p.journal_ref, p.ai_keywords) == ("c", "j\ufffd", ["k"])
    assert (p.organization.name, p.organization.fullname) == ("Org", "O")
    assert f.submitted_by.username == "submitter"
    assert f.organization.name == "Org"
    assert notes == []  # cleaning keeps the text meaningful: nothing was refused
    # The input is left as it was (store_items is a function of its arguments).
    assert hostile.paper.title == "Safe\u202e txet\x00 \ud800title"


def test_hostile_links_are_dropped_with_a_note_each_and_good_ones_kept() -> None:
    hostile = item(
        paper(
            github_repo="  JaVaScRiPt:alert(1)", project_page="https://ok.example/x",
            thumbnail="data:image/png;base64,AAAA",
            media_urls=["https://ok.example/m.mp4", "java\tscript:alert(2)", "//evil.example/v"],
            authors=[Author(name="A", user=HubUser(username="a", avatar_url="vbscript:x")),
                     Author(name="B", user=HubUser(username="b", avatar_url="/avatars/b.svg"))],
            organization=Organization(name="org", avatar_url="javascript:alert(3)"),
        ),
        submitted_by=HubUser(username="s", avatar_url="https://user:pw@ok.example/a.png"),
    )
    clean, notes = check_item(hostile)
    p = clean.paper
    assert p.github_repo is None
    assert p.project_page == "https://ok.example/x"
    assert p.thumbnail is None
    assert p.media_urls == ["https://ok.example/m.mp4"]
    assert [a.user.avatar_url for a in p.authors] == [None, "/avatars/b.svg"]
    assert p.organization.avatar_url is None
    assert clean.feature.submitted_by.avatar_url is None
    where = {n.position: n.reason for n in notes}
    assert set(where) == {"github_repo", "thumbnail", "media_urls", "authors.user.avatar_url",
                          "organization.avatar_url", "submitted_by.avatar_url"}
    assert "javascript" in where["github_repo"] and where["github_repo"].startswith("link dropped")
    assert "and 1 more" in where["media_urls"]  # two media links refused, one note
    assert all(n.record_id == "2401.00001" for n in notes)


def test_an_over_long_title_refuses_the_record_with_the_setting_named() -> None:
    limits = RecordLimits(title_chars=50)
    check_item(item(paper(title="t" * 50)), limits)
    with pytest.raises(RecordRefused, match=r"title is 51 characters.*DAILYPAPERS_MAX_TITLE_CHARS"):
        check_item(item(paper(title="t" * 51)), limits)
    with pytest.raises(RecordRefused, match="1,048,576"):
        check_item(item(paper(title="x" * 2**20)))


def test_long_texts_are_cut_and_noted_and_the_record_kept() -> None:
    limits = RecordLimits(abstract_chars=100, authors=3, name_chars=10)
    words = " ".join(["word"] * 60)  # 299 characters
    record = paper(
        abstract=words, comments="c" * 150, ai_summary="s" * 100,
        authors=[Author(name=f"Author {n}") for n in range(5)] + [Author(name="N" * 40)],
    )
    clean, notes = check_item(item(record), limits)
    p = clean.paper
    assert len(p.abstract) <= 100 and p.abstract.endswith("…")
    assert p.abstract.startswith("word word") and " wor…" not in p.abstract  # cut at a space
    assert len(p.comments) == 100 and p.comments.endswith("…")
    assert p.ai_summary == "s" * 100  # exactly at the limit: kept whole
    assert [a.name for a in p.authors] == ["Author 0", "Author 1", "Author 2"]
    where = {n.position: n.reason for n in notes}
    assert where["authors"] == "kept the first 3 of 6 authors (DAILYPAPERS_MAX_AUTHORS)"
    assert where["abstract"] == "cut from 299 to 100 characters"
    assert "ai_summary" not in where


def test_author_names_are_cut_to_the_limit() -> None:
    clean, notes = check_item(item(paper(authors=[Author(name="N" * 40), Author(name="Bo")])),
                              RecordLimits(name_chars=10))
    assert [a.name for a in clean.paper.authors] == ["N" * 9 + "…", "Bo"]
    assert [n.position for n in notes] == ["authors.name"]


def test_values_that_cannot_fit_their_column_are_dropped_not_stored() -> None:
    record = paper(
        hf_published_at="2026-03-02T10:00:00.000Z" + "0" * 30, doi="10.1/" + "d" * 300,
        upvotes=10**20, github_stars=-5, discussion_id="d" * 65, primary_category="c" * 33,
    )
    long_name = "u" * 129
    clean, notes = check_item(item(record, upvotes=2**31, submitted_by=HubUser(username=long_name)),
                              RecordLimits(name_chars=1000))
    p, f = clean.paper, clean.feature
    assert (p.hf_published_at, p.doi, p.upvotes, p.github_stars, p.discussion_id,
            p.primary_category) == (None,) * 6
    assert (f.upvotes, f.submitted_by) == (None, None)
    assert {n.position for n in notes} == {
        "hf_published_at", "doi", "upvotes", "github_stars", "discussion_id", "primary_category",
        "feature.upvotes", "submitted_by.username",
    }


def test_records_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(RecordRefused, match="title is a int"):
        check_item(item(paper(title=123)))
    with pytest.raises(RecordRefused, match="paper id"):
        check_item(item(paper(arxiv_id="2401.00001\x00")))
    with pytest.raises(RecordRefused, match="authors is a str"):
        check_item(item(paper(authors="Ada")))
    with pytest.raises(RecordRefused, match="another paper"):
        check_item(ParsedItem(paper=paper(), feature=FeatureRecord(
            arxiv_id="2401.99999", day=dt.date(2026, 3, 2), source=SOURCE_HF)))


def test_kaggle_records_without_features_pass_too() -> None:
    record = ParsedItem(paper=paper(source=SOURCE_KAGGLE, github_repo="javascript:x"))
    clean, notes = check_item(record)
    assert clean.feature is None and clean.paper.github_repo is None
    assert [n.position for n in notes] == ["github_repo"]


def test_cleaning_keeps_linked_repos_and_every_account_field() -> None:
    """Fails if the record check rebuilds an item or an account and drops what other parts of
    the record carry (a paper-info answer's linked repos; isHf, isMod, followerCount)."""
    from dailypapers.ingest.records import LinkedRepos

    linked = LinkedRepos(arxiv_id="2401.00001", num_models=3)
    submitter = HubUser(username="sub\u202emitter", is_hf=True, is_hf_admin=False, is_mod=True,
                        follower_count=42)
    hostile = item(paper(title="Needs\x00 cleaning"), submitted_by=submitter)
    hostile.linked = linked
    clean, _ = check_item(hostile)
    assert clean.paper.title == "Needs cleaning"
    assert clean.linked is linked
    kept = clean.feature.submitted_by
    assert kept.username == "submitter"
    assert (kept.is_hf, kept.is_hf_admin, kept.is_mod, kept.follower_count) == (True, False, True, 42)
