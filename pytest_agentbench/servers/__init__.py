"""Inference servers: preflight checks of the ones users run, and the ones the plugin starts itself."""
