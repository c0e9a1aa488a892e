"""The community: accounts, sessions and API tokens (and, on top, votes and the rest).

Services here take a connection and never commit; the web layer (``web/deps.py``) gives each
request one write transaction.
"""
