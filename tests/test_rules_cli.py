"""`dailypapers search`, driven through the real click group on the rules corpus
(tests/rules_corpus.py): its output, ``--limit``, ``--mode``, ``--sort`` and exit codes.
SQLite and PostgreSQL (the harness of tests/test_cli.py)."""

from __future__ import annotations

import re

import pytest

from tests.rules_corpus import (
    FEAT_CARS, FEAT_FISH, KEYWORD_ONLY, Y2019, Y2020, Y2021, Y2022, load_corpus,
)
from tests.test_cli import Cli, cli, data_dir  # noqa: F401 - fixtures

LINE = re.compile(r"^\s*(\d+)\. (\S+)\s+(.*)$")


@pytest.fixture
def indexed(cli: Cli, engine) -> Cli:  # noqa: F811
    load_corpus(engine)
    assert cli("reindex").exit_code == 0  # keyword index and vectors, as an operator would
    return cli


def listed(stdout: str) -> list[str]:
    rows = [LINE.match(line) for line in stdout.splitlines()[1:]]
    assert all(rows), stdout
    assert [int(r.group(1)) for r in rows] == list(range(1, len(rows) + 1))
    return [r.group(2) for r in rows]


def test_search_prints_a_header_and_ranked_titles(indexed: Cli) -> None:
    """Fails if the output loses its header (count, mode) or the id + title lines."""
    result = indexed("search", "zebrafish", "--mode", "keyword")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "5 results (keyword); top 5:"
    assert set(listed(result.stdout)) == {FEAT_FISH, Y2019, Y2020, Y2021, Y2022}
    assert "Zebrafish heart regeneration imaging" in result.stdout


def test_limit_cuts_the_list_and_keeps_the_total(indexed: Cli) -> None:
    """Fails if ``--limit`` is ignored or changes the reported total."""
    result = indexed("search", "zebrafish", "--limit", "2", "--sort", "newest")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "5 results (keyword); top 2:"
    assert listed(result.stdout) == [FEAT_FISH, Y2022]
    for bad in ("0", "101"):
        assert indexed("search", "zebrafish", "--limit", bad).exit_code == 64


def test_sort_newest_and_upvotes(indexed: Cli) -> None:
    """Fails if ``--sort`` is ignored: newest first by date; most upvoted first."""
    newest = indexed("search", "zebrafish", "--sort", "newest")
    assert listed(newest.stdout) == [FEAT_FISH, Y2022, Y2021, Y2020, Y2019]
    upvotes = indexed("search", "author:lovelace", "--sort", "upvotes", "--limit", "2")
    assert listed(upvotes.stdout) == [FEAT_FISH, FEAT_CARS]


def test_modes_find_different_papers(indexed: Cli) -> None:
    """Fails if ``--mode`` is ignored: "automobile" is a word of one paper (keyword) and the
    meaning of another (dense); hybrid lists both."""
    keyword = indexed("search", "automobile", "--mode", "keyword")
    assert keyword.stdout.splitlines()[0].endswith("(keyword); top 1:")
    assert listed(keyword.stdout) == [KEYWORD_ONLY]
    dense = indexed("search", "automobile", "--mode", "dense")
    assert dense.stdout.splitlines()[0].endswith("(dense); top 1:")
    assert listed(dense.stdout) == [FEAT_CARS]
    assert set(listed(indexed("search", "automobile").stdout)) == {KEYWORD_ONLY, FEAT_CARS}
    assert indexed("search", "automobile", "--mode", "psychic").exit_code == 64


def test_exit_codes_for_no_match_and_a_bad_query(indexed: Cli) -> None:
    """Fails if a refused query is not a usage error (exit 2, message on stderr naming the
    filter), or if no match exits 0."""
    bad = indexed("search", "foo:bar")
    assert bad.exit_code == 64 and "unknown filter 'foo:'" in bad.stderr and bad.stdout == ""
    empty_range = indexed("search", "zebrafish year:2021-2020")
    assert empty_range.exit_code == 64 and "empty range" in empty_range.stderr
    none = indexed("search", "quokka", "--mode", "keyword")
    assert none.exit_code == 1 and none.stdout.strip() == "No papers match."
