"""Ranking: transparent, documented formulas over stored counts."""
