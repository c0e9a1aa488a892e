"""Outgoing notifications: mail (and, later, the digests built on it)."""
