"""The local package index fixture (filled in by the index client work)."""
