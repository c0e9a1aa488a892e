"""The link finder: GitHub repositories and project pages in abstracts and comments."""

from __future__ import annotations

import pytest

from dailypapers.ingest.links import find_links, normalize_github_repo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Code is at https://github.com/lh3/ropebwt2.", "https://github.com/lh3/ropebwt2"),
        ("see (http://github.com/luispedro/mahotas)", "https://github.com/luispedro/mahotas"),
        ("at https://www.github.com/a-b/c_d.git, and", "https://github.com/a-b/c_d"),
        (
            "https://github.com/davidecenzato/optimalBWT.git.",
            "https://github.com/davidecenzato/optimalBWT",
        ),
        (
            "https://github.com/robsimmons/agda-lib/tree/focalization",
            "https://github.com/robsimmons/agda-lib",
        ),
        (
            r"\url{https://github.com/daac-tools/daachorse}.",
            "https://github.com/daac-tools/daachorse",
        ),
        (r"\url{https://github.com/foo/bar\_baz}", "https://github.com/foo/bar_baz"),
        ("availability: github.com/Malfoy/BGREAT", "https://github.com/Malfoy/BGREAT"),
        ("http://git@github.com:BEETL/BEETL.git", "https://github.com/BEETL/BEETL"),
        (
            "repo https://github.com/fastfloat/fast_float;",
            "https://github.com/fastfloat/fast_float",
        ),
        ("only an account: https://github.com/someone", None),
        ("https://github.com/orgs/openai/repositories", None),
        ("https://github.com/topics/graphs", None),
        ("no links here, just github mentioned", None),
        ("notgithub.com/a/b is another host", None),
    ],
)
def test_find_links_github_repo(text: str, expected: str | None) -> None:
    assert find_links(text, None)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Project page: https://imatge.upc.edu/web/publications/x.",
            "https://imatge.upc.edu/web/publications/x",
        ),
        ("36 pages. See https://suffixsorting.github.io/", "https://suffixsorting.github.io/"),
        ("demo at mil-tokyo.github.io/.", "https://mil-tokyo.github.io/"),
        (
            "An online demo is available at http://www.f-zhou.com/fg_demo/.",
            "http://www.f-zhou.com/fg_demo/",
        ),
        (
            "our project website (http://www.vo.elte.hu/bitcoin/), with",
            "http://www.vo.elte.hu/bitcoin/",
        ),
        # Journal, conference and plain "website" links are not project pages.
        ("Journal website: http://sites.google.com/site/ijcsis/", None),
        ("Published in JAIR, http://www.jair.org/papers/x.html", None),
        # Never arXiv, DOIs, videos, files or GitHub itself.
        ("Project page: https://arxiv.org/abs/2401.12345", None),
        ("Project page: https://doi.org/10.1000/xyz", None),
        ("Project page: https://github.com/a/b", None),
        ("See the demo video: https://www.youtube.com/watch?v=abc", None),
        ("Project page: http://example.org/paper.pdf", None),
        # GitHub Pages serve HTTPS only; LaTeX line-break hints do not start a URL.
        ("Project page http://ouro-llm.github.io", "https://ouro-llm.github.io"),
        (r"See https://a1b2\allowbreak-dotcom.github.io/x for more", None),
    ],
)
def test_find_links_project_page(text: str, expected: str | None) -> None:
    assert find_links(text, None)[1] == expected


def test_find_links_takes_first_of_each_abstract_before_comments() -> None:
    abstract = (
        "Code: https://github.com/first/one and https://github.com/second/two. "
        "Project page: https://first.github.io/p, https://second.github.io/q"
    )
    comments = "Code at https://github.com/third/three"
    assert find_links(abstract, comments) == (
        "https://github.com/first/one",
        "https://first.github.io/p",
    )
    assert find_links("nothing here", comments) == ("https://github.com/third/three", None)
    assert find_links("Project page https://lab.github.io/x", "https://github.com/o/r") == (
        "https://github.com/o/r",
        "https://lab.github.io/x",
    )
    assert find_links(None, None) == (None, None)
    assert find_links("", "") == (None, None)


def test_normalize_github_repo() -> None:
    assert (
        normalize_github_repo("https://github.com/Owner/Repo/issues/3")
        == "https://github.com/Owner/Repo"
    )
    assert normalize_github_repo("github.com/owner/repo.git") == "https://github.com/owner/repo"
    assert normalize_github_repo("https://gitlab.com/owner/repo") is None
    assert normalize_github_repo("") is None
