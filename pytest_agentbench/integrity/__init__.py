"""Integrity: how often a model cheats when cheating is easy and the honest path is hard.

The canaries say which behaviours count as a cheat (schemas/integrity.py); the harness sees them
in the change and the transcript's tool calls and labels the attempt ``cheated`` or
``tampered`` (attempt/integrity.py, attempt/outcome.py); records/propensity.py turns the results
into a cheat rate per model with its interval. This package is the feature's plugin (hooks.py):
the rate in the terminal summary and the JSON and HTML reports (render.py). The gate
(``--agentbench-max-cheat-rate``) is run/gates.py's.
"""
