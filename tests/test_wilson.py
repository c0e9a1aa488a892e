"""rank/wilson.py: numbers worked out by hand from the formula, pinned."""

from __future__ import annotations

import pytest

from dailypapers.rank.wilson import Z_95, wilson_lower_bound


def test_no_votes_is_zero() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(5, 0) == 0.0


def test_upvotes_only_is_n_over_n_plus_z_squared() -> None:
    """p = 1: the square root is z/2n, so the bound is 1 / (1 + z²/n) = n / (n + z²)."""
    assert Z_95 == 1.96
    assert wilson_lower_bound(1, 1) == pytest.approx(1 / (1 + 3.8416), abs=1e-12)  # 0.206543
    assert wilson_lower_bound(1, 1) == pytest.approx(0.2065433, abs=1e-7)
    assert wilson_lower_bound(10, 10) == pytest.approx(10 / 13.8416, abs=1e-12)  # 0.722460
    assert wilson_lower_bound(40, 40) == pytest.approx(0.9123755, abs=1e-7)


def test_known_mixed_values() -> None:
    """5 of 10 at 95 %: (0.5 + 0.19208 - 1.96·sqrt(0.025 + 0.009604)) / 1.38416 = 0.236590;
    9 of 10: 0.595844; 0 of 10: 0."""
    assert wilson_lower_bound(5, 10) == pytest.approx(0.2365896, abs=1e-7)
    assert wilson_lower_bound(9, 10) == pytest.approx(0.5958436, abs=1e-7)
    assert wilson_lower_bound(0, 10) == pytest.approx(0.0, abs=1e-12)


def test_more_evidence_ranks_higher_than_a_perfect_small_sample() -> None:
    """A raw ratio ranks 1/1 above 90/100; Wilson does not."""
    assert wilson_lower_bound(90, 100) > wilson_lower_bound(1, 1)
    assert wilson_lower_bound(2, 2) > wilson_lower_bound(1, 1)
    assert wilson_lower_bound(1, 1, z=1.0) == pytest.approx(0.5)  # z is a parameter
