"""A tiny shop backend: money parsing, tax and checkout."""
