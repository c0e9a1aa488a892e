"""``GET /papers/{id}.md``: the paper as Markdown, what ``HfApi.read_paper`` reads."""

import pytest

from dailypapers.ingest.files import import_paths
from dailypapers.ingest.validate import safe_url
from dailypapers.web.paper_markdown import hub_repo_url, valid_repo_id
from tests.helpers import hf_item, write_json

MATH_ABSTRACT = (
    "We bound the cost by $\\mathcal{O}(n^2 \\log n)$ for\n   every graph, and\n"
    "$$\\sum_{i<j} w_{ij} \\le 1$$ holds.\n\n  A second paragraph costs $5 and $10."
)


@pytest.fixture
def math_paper(engine, tmp_path):
    new = hf_item("2401.00007", title="Sparse  cuts\nin $k$-graphs", upvotes=9, day="2026-03-02",
                  githubRepo="https://github.com/ada/cuts", githubStars=12,
                  projectPage="javascript:alert(1)", ai_summary="Cuts, *fast*.",
                  ai_keywords=["sparse cut", "graphs"])
    new["paper"]["summary"] = MATH_ABSTRACT
    old = hf_item("math/0611918", title="An old-style paper", day="2026-03-03")
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [new]),
                          write_json(tmp_path / "2026-03-03.json", [old])])


def test_markdown_has_title_first_math_intact_and_safe_links(client, math_paper):
    response = client.get("/papers/2401.00007.md")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    text = response.text
    lines = text.splitlines()
    assert lines[0] == "# Sparse cuts in $k$-graphs"
    assert "**Authors:** Ada Lovelace, Alan Turing" in lines
    assert "**Featured on Daily Papers:** 2026-03-02" in lines
    assert "**Submitted by:** Grace Hopper (grace)" in lines
    # Math kept as $…$ (and the hard wrap joined), paragraphs kept apart.
    assert ("We bound the cost by $\\mathcal{O}(n^2 \\log n)$ for every graph, and "
            "$$\\sum_{i<j} w_{ij} \\le 1$$ holds.\n\nA second paragraph costs $5 and $10.") in text
    assert "[arXiv:2401.00007](<https://arxiv.org/abs/2401.00007>)" in text
    assert "[Code](<https://github.com/ada/cuts>) (12 stars)" in text
    assert "javascript:" not in text and "Project page" not in text
    assert "## AI summary\n\nCuts, *fast*." in text
    assert "**Keywords:** sparse cut, graphs" in text


def test_old_style_ids_and_versions(client, math_paper):
    old = client.get("/papers/math/0611918.md")
    assert old.status_code == 200 and old.text.startswith("# An old-style paper\n")
    assert "https://arxiv.org/abs/math/0611918" in old.text
    versioned = client.get("/papers/2401.00007v3.md")
    assert versioned.status_code == 200 and versioned.text.startswith("# Sparse cuts")


def test_unknown_or_malformed_is_404_and_the_html_page_still_answers(client, math_paper):
    for path in ("/papers/2401.99999.md", "/papers/not-an-id.md", "/papers/.md"):
        assert client.get(path).status_code == 404, path
    page = client.get("/papers/2401.00007")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_hf_client_read_paper(live_server, math_paper):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=live_server.url)
    text = api.read_paper("2401.00007")
    assert text.splitlines()[0] == "# Sparse cuts in $k$-graphs"
    assert "$\\mathcal{O}(n^2 \\log n)$" in text
    with pytest.raises(HfHubHTTPError) as caught:
        api.read_paper("2401.99999")
    assert caught.value.response.status_code == 404


@pytest.mark.parametrize(
    ("value", "expected"),
    [("https://a.org/x", True), ("http://a.org", True), ("javascript:alert(1)", False),
     ("https:///nohost", False), ("https://a.org/x y", False), ("//a.org/x", False), ("", False)],
)
def test_markdown_links_follow_the_one_url_rule(value, expected):
    assert (safe_url(value) == value) is expected


@pytest.mark.parametrize(
    ("repo_id", "ok"),
    [("Qwen/Qwen3-TTS-12Hz", True), ("gpt2", True), ("a.b_c/d-e.f", True),
     ("../etc", False), ("a/b/c", False), ("a--b/c", False), ("-a/b", False), ("a/b.", False),
     ("a/" + "x" * 97, False), ("a/<script>", False), ("", False)],
)
def test_repo_ids_and_urls(repo_id, ok):
    assert valid_repo_id(repo_id) is ok
    assert (hub_repo_url("dataset", repo_id) == f"https://huggingface.co/datasets/{repo_id}") is ok
    assert hub_repo_url("bucket", "a/b") is None
