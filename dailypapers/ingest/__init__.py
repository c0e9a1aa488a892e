"""Upstream formats in, normalised records out; service.py stores them."""
