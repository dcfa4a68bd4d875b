"""A pipeline as a Python canary: three scoped phases, each a fresh conversation on
the same worktree, asserted one by one. ``canaries/heavy/self-improve`` is the six-phase TOML twin.

Run it like any canary suite:  pytest examples/python_canary --models NAME@URL --repeats 3
"""

import pytest

from test_inventory_canary import HIDDEN_TEST, PROMPT

EXPLORE_SCHEMA = {
    "type": "object",
    "required": ["files_examined", "summary"],
    "properties": {
        "files_examined": {"type": "array", "items": {"type": "string"}},
        "summary": {"type": "string"},
    },
}
REVIEW_SCHEMA = {
    "type": "object",
    "required": ["verdict", "commands_run"],
    "properties": {
        "verdict": {"enum": ["ok", "broken"]},
        "commands_run": {"type": "array", "items": {"type": "string"}},
    },
}


@pytest.mark.canary(tier="medium", repo="inventory_repo", tags=["python", "pipeline", "example"])
def test_inventory_remove_in_phases(agent):
    explore = agent.phase(
        "explore", "Read the code base and map it. Answer with one JSON object: "
        '{"files_examined": [paths you read], "summary": "..."}.',
        tools=["read_file", "list_dir", "grep"], output_schema=EXPLORE_SCHEMA,
        claims={"files_examined": "files"}, budget={"turns": 6})
    assert explore.json_ok, explore.schema_errors
    assert not explore.hallucinated and not explore.invalid_paths, explore.record

    implement = agent.phase(
        "implement", "The explorer's map, verbatim:\n{{explore}}\n\n" + PROMPT, writes=True)
    assert not implement.phantom, "the implement phase claimed work it did not do"

    review = agent.phase(
        "review", "Review the change with the shell (run the code). Answer with one JSON object: "
        '{"verdict": "ok" or "broken", "commands_run": [the commands you ran]}.',
        tools=["read_file", "shell"], output_schema=REVIEW_SCHEMA, claims={"commands_run": "commands"})
    assert review.json_ok and not review.hallucinated, review.record

    check = agent.check("python -m pytest -q test_inventory_hidden.py",
                        files={"test_inventory_hidden.py": HIDDEN_TEST})
    assert check.ok, check.output
