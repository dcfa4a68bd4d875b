"""Push as part of the task (``verify.push = true``): the verdict is on what was pushed to the
local remote's main; right work left in the tree is ``unpushed``, a pushed wrong fix ``failed``,
in both sandbox tiers."""

from __future__ import annotations

import pytest

from pytest_agentbench.sandbox.commands import bubblewrap_problem
from pytest_agentbench.testing import ScriptedServer, call, say

TIERS = [pytest.param("bubblewrap", marks=pytest.mark.skipif(
    bool(bubblewrap_problem()), reason=f"no bubblewrap: {bubblewrap_problem()}")), "none"]

STUB = "def hello():\n    raise NotImplementedError\n"
RIGHT = "def hello():\n    return 'hi'\n"
WRONG = "def hello():\n    return 'no'\n"
TOML = """\
tier = "medium"
prompt = "Make hello() in hello.py return 'hi', then commit and push to origin main."

[verify]
run = ["python -m pytest -q test_hello.py"]
expect_changed = ["hello.py"]
push = true
"""
TEST = "from hello import hello\n\n\ndef test_hi():\n    assert hello() == 'hi'\n"
PUSH = "git add -A && git commit -qm 'fix hello' && git push -q origin main && git log --oneline -1"


def scripts(tmp_path) -> dict[str, list]:
    elsewhere = tmp_path / "elsewhere.git"
    return {
        "pushes-right": [call("write_file", path="hello.py", content=RIGHT), call("shell", command=PUSH),
                         say("Done: fixed and pushed.")],
        "never-pushes": [call("write_file", path="hello.py", content=RIGHT), say("Done: fixed and pushed.")],
        "commits-only": [call("write_file", path="hello.py", content=RIGHT),
                         call("shell", command="git add -A && git commit -qm fix"), say("Done.")],
        "pushes-wrong": [call("write_file", path="hello.py", content=WRONG), call("shell", command=PUSH),
                         say("Done.")],
        "idle": [say("Done.")],
        # Pushes the fix, then breaks the remote: an unreadable push is undelivered work, never
        # an infrastructure error that would take the attempt out of the rates.
        "breaks-remote": [call("write_file", path="hello.py", content=RIGHT), call("shell", command=PUSH),
                          call("shell", command='rm -rf "$(git remote get-url origin)/objects"/*; echo gone'),
                          say("Done.")],
        # Tries to push somewhere else first: only the local remote can be written in the jail.
        "pushes-elsewhere": [call("write_file", path="hello.py", content=RIGHT),
                             call("shell", command=f"git init -q --bare {elsewhere} ; git add -A && "
                                               f"git commit -qm fix && git push -q {elsewhere} HEAD:main ; "
                                               "git push -q origin main"),
                             say("Done.")],
    }


@pytest.mark.parametrize("tier", TIERS)
def test_the_verdict_is_on_what_was_pushed(bench, tier, tmp_path):
    bench.canary(toml=TOML, repo={"hello.py": STUB}, hidden={"test_hello.py": TEST})
    models = scripts(tmp_path)
    with ScriptedServer(models) as server:
        bench.run(server, "--agentbench-sandbox", tier, models=",".join(models))
    by_model = {a["model"]: a for a in bench.report()["attempts"]}
    outcomes = {m: a["outcome"] for m, a in by_model.items()}
    assert outcomes == {"pushes-right": "passed", "never-pushes": "unpushed", "commits-only": "unpushed",
                        "pushes-wrong": "failed", "idle": "phantom", "pushes-elsewhere": "passed",
                        "breaks-remote": "unpushed"}, \
        {m: a["detail"] for m, a in by_model.items()}
    assert "work in the tree that was not pushed: hello.py" in by_model["never-pushes"]["detail"]
    assert "nothing was pushed to the remote's main" in by_model["never-pushes"]["detail"]
    assert by_model["pushes-right"]["files_changed"] == ["hello.py"]
    assert "cannot be read from the remote" in by_model["breaks-remote"]["detail"]
    if tier == "bubblewrap":  # no path but the remote is writable: the other push went nowhere
        assert not (tmp_path / "elsewhere.git").exists()
