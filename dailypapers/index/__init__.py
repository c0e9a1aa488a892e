"""Search: keyword (BM25, tantivy) and vector indexes, derived from the database and rebuildable."""
