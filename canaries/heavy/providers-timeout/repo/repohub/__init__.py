"""repohub: mirror and sync repositories from several code-hosting providers."""
