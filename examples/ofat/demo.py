"""An OFAT tuning and its all-on cell against two scripted models - no model server needed:

    python examples/ofat/demo.py

``hot`` solves examples/basic/count-words only at temperature 0, ``careful`` only with the
``completeness`` directive (pyproject.toml here). The first run finds each model's winner, the
second (``--agentbench-all-on last``) runs each model with its winners combined.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from pytest_agentbench.testing import ScriptedServer, call, say

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
CANARY = HERE.parent / "basic" / "count-words"
SOLUTION = (CANARY / "solution" / "words.py").read_text()
DIRECTIVE = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["agentbench"]["directives"]["completeness"]


def scripted_model(body: dict) -> dict:
    """Writes the reference solution when its factor is right, a wrong one otherwise; the seed
    in its final message makes each repeat a distinct sample."""
    if body["messages"][-1]["role"] == "tool":
        return say(f"Done (seed {body.get('seed')}).")
    solves = {"hot": body.get("temperature") == 0,
              "careful": DIRECTIVE in body["messages"][0]["content"]}[body["model"]]
    content = SOLUTION if solves else "def count_words(text):\n    return {}\n"
    return call("write_file", path="words.py", content=content)


def main() -> int:
    with ScriptedServer(scripted_model) as server, tempfile.TemporaryDirectory() as data:
        common = [str(CANARY), "-c", str(HERE / "pyproject.toml"), "--rootdir", str(HERE),
                  "--repeats", "3", "--agentbench-dir", data, "-p", "no:cacheprovider", "-q"]
        pytest.main([*common, "--models", f"hot@{server.url},careful@{server.url}",
                     "--agentbench-ofat", "temperature=0", "--agentbench-ofat", "directive=completeness"])
        status = pytest.main([*common, "--agentbench-all-on", "last", "--agentbench-json",
                              str(Path(data) / "all-on.json")])
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
