"""Pipeline canaries: a canary made of ``[[phases]]``, each a scoped
sub-agent — a fresh conversation with its own tools, budget, system prompt and JSON output schema —
run in turn on one worktree, then verified as one attempt.

``schemas/pipeline.py`` (the TOML shape and its validation), ``output.py`` (structured output: parsing,
schema, re-prompts), ``checks.py`` (phantom, hallucinated, invalid paths, the regression gate),
``language.py`` (language drift), ``runner.py`` (the phases of one attempt),
``schemas/pipeline_records.py`` (what the JSON report keeps per phase), ``report.py`` (the per model × phase aggregate, terminal and
JSON), ``reference.py`` (``agentbench validate``'s scripted pass), ``driver.py`` (the feature's plugin:
the driver of pipeline canaries and of ``agent.phase()``). Only features.py imports this package.
"""
