"""A tiny `sort` clone."""
