"""Notebook to project: read -> plan (which cell is which stage) -> flow (names) -> emit -> parity."""
