"""The pieces on their own: hard vs soft failures, stray files in review pain, the
policy's tie-breaks and its guard on models without a family, role selectors and errors."""

from __future__ import annotations

import pytest

from pytest_agentbench.routing.metrics import RoleMetrics, is_hard_failure, role_metrics
from pytest_agentbench.routing.policy import decide
from pytest_agentbench.routing.review import unexpected_files
from pytest_agentbench.routing.roles import RoleError, RoleSpec, load_roles
from pytest_agentbench.schemas.models import ModelSpec
from pytest_agentbench.schemas.results import AttemptResult


def attempt(model: str, outcome: str, files: list[str] | None = None, pain: int | None = None,
            canary: str = "c1", tier: str = "lite", tags: list[str] | None = None) -> AttemptResult:
    return AttemptResult(canary=canary, tier=tier, model=model, repeat=0, outcome=outcome,
                         files_changed=files or [], review_pain=pain, tags=tags or [])


def test_a_budget_outcome_is_hard_only_without_a_change():
    assert is_hard_failure(attempt("m", "budget_turns"))
    assert not is_hard_failure(attempt("m", "budget_turns", ["a.py"]))
    assert is_hard_failure(attempt("m", "phantom")) and is_hard_failure(attempt("m", "tampered", ["a.py"]))
    assert not is_hard_failure(attempt("m", "failed", ["a.py"]))


def test_stray_files_count_only_against_expect_changed():
    assert unexpected_files(["src/a.py", "notes.txt", "b.py"], ["src/*.py", "b.py"]) == 1
    assert unexpected_files(["anything.py"], []) == 0


def metrics(name: str, family: str | None, passed: int, n: int, pains: list[int], hard: int = 0,
            tier: str = "free") -> RoleMetrics:
    return RoleMetrics(name, family, tier, n=n, passed=passed, hard_failures=hard, pains=pains)


def test_ties_break_on_acceptance_then_review_pain_then_hard_failures_then_registry_order():
    role = RoleSpec(incumbent="i", challengers=["a", "b", "c", "d"])
    table = {"i": metrics("i", "x", 1, 4, [0]), "a": metrics("a", "y", 3, 4, [2, 2, 2]),
             "b": metrics("b", "z", 3, 4, [1, 1, 1], hard=1), "c": metrics("c", "z", 3, 4, [1, 1, 1]),
             "d": metrics("d", "y", 2, 4, [0, 0])}
    table["i"].pains = [3]  # the incumbent's pain is the highest: review pain does not exclude them
    decision = decide(role, table)
    assert [c.eligible for c in decision.candidates] == [None, True, False, True, True]
    assert decision.promoted == "c"  # a: more pain; b: incumbent had no hard failure, b has one


def test_models_without_a_family_cannot_satisfy_the_guard():
    role = RoleSpec(incumbent="i", challengers=["a", "b"])
    table = {"i": metrics("i", "x", 0, 2, []), "a": metrics("a", "y", 2, 2, [0]),
             "b": metrics("b", None, 0, 2, [])}
    decision = decide(role, table)
    assert decision.promoted is None
    assert decision.candidates[1].reasons[-1] == ("REJECTED: family guard: after the change the role "
                                                  "is served by 1 family (y; at least 2 needed)")


def test_selectors_must_all_match_and_only_base_variants_count():
    role = RoleSpec(tiers=["medium", "heavy"], tags=["python"], incumbent="i")
    assert role.serves("c", "heavy", ["python", "web"])
    assert not role.serves("c", "lite", ["python"]) and not role.serves("c", "heavy", ["rust"])
    results = [attempt("i", "passed", tier="heavy", tags=["python"], pain=1),
               attempt("i", "failed", ["x.py"], tier="lite", tags=["python"]),
               attempt("i", "infra_error", tier="heavy", tags=["python"])]
    results.append(results[0].model_copy(update={"variant": "temperature=0.7", "outcome": "failed"}))
    found = role_metrics(role, results, {"i": {"family": "q"}})["i"]
    assert (found.n, found.passed, found.review_pain, found.family, found.cost_tier) == (1, 1, 1.0, "q", "free")


REGISTRY = {"a": ModelSpec(name="a"), "b": ModelSpec(name="b")}


@pytest.mark.parametrize(("entry", "message"), [
    ('incumbent = "zz"', "key 'incumbent': 'zz' is not a registry model (known: a, b)"),
    ('incumbent = "a"\nchallengers = ["a"]', "'a' is named twice among incumbent and challengers"),
    ('incumbent = "a"\ntiers = ["huge"]', "key 'tiers.0': Input should be 'lite', 'medium', 'heavy' or 'integrity'"),
    ('incumbent = "a"\nchallenger = ["b"]', "key 'challenger': unknown key"),
])
def test_role_errors_name_the_file_the_role_and_the_key(tmp_path, entry, message):
    (tmp_path / "agentbench.toml").write_text(f"[roles.coder]\n{entry}\n")
    with pytest.raises(RoleError) as error:
        load_roles(tmp_path, REGISTRY)
    assert str(error.value) == f"{tmp_path / 'agentbench.toml'}: [roles.coder]: {message}"


def test_agentbench_toml_wins_over_pyproject_role_by_role(tmp_path):
    (tmp_path / "agentbench.toml").write_text('[roles.coder]\nincumbent = "a"\n')
    (tmp_path / "pyproject.toml").write_text('[tool.agentbench.roles.coder]\nincumbent = "b"\n'
                                             '[tool.agentbench.roles.review]\nincumbent = "b"\n')
    roles = load_roles(tmp_path, REGISTRY)
    assert (roles["coder"].incumbent, roles["coder"].table) == ("a", ("roles", "coder"))
    assert roles["review"].table == ("tool", "agentbench", "roles", "review")


def test_the_registry_reads_family_and_cost_tier_and_refuses_other_tiers(tmp_path):
    from pytest_agentbench.schemas.models import ModelConfigError, load_registry

    (tmp_path / "agentbench.toml").write_text('[models.a]\nfamily = "qwen"\ncost_tier = "paid"\n[models.b]\n')
    found = load_registry(tmp_path)
    assert (found["a"].family, found["a"].cost_tier, found["b"].cost_tier) == ("qwen", "paid", "free")
    assert found["a"].describe()["family"] == "qwen" and found["a"].describe()["cost_tier"] == "paid"
    (tmp_path / "agentbench.toml").write_text('[models.a]\ncost_tier = "cheap"\n')
    with pytest.raises(ModelConfigError, match=r"\[models.a\]: key 'cost_tier': Input should be 'free' or 'paid'"):
        load_registry(tmp_path)


def test_acceptance_checks_may_carry_a_severity(tmp_path):
    from pytest_agentbench.schemas.canary import CanaryError, load_canary

    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.txt").write_text("a\n")
    toml = tmp_path / "canary.toml"
    head = 'tier = "lite"\nprompt = "p"\n[verify]\n'
    toml.write_text(head + 'run = ["pytest -q", {run = "ruff check .", severity = 3}]\n'
                    '[[verify.review]]\nrun = "mypy ."\n')
    canary = load_canary(toml)
    assert (canary.verify.run, canary.verify.run_severity) == (["pytest -q", "ruff check ."], [1, 3])
    assert [(r.run, r.severity) for r in canary.verify.review] == [("mypy .", 1)]
    for bad, message in (('{run = "x", severity = -1}', "run[0].severity: -1 is not a whole number >= 0"),
                         ('{run = "x", weight = 2}', ("run[0]: a check table takes run = \"COMMAND\" and "
                                                     "an optional severity = N (unknown: ['weight'])"))):
        toml.write_text(head + f"run = [{bad}]\n")
        with pytest.raises(CanaryError) as error:
            load_canary(toml)
        assert str(error.value) == f"{toml}: field 'verify': {message}"


def test_a_role_scores_its_agents_attempts_only():
    # --agentbench-agent builtin,mini: the same model's attempts through two agents are two things.
    results = [attempt("i", "passed"), attempt("i", "passed"),
               attempt("i", "failed", ["a.py"]).model_copy(update={"agent": "mini"})]
    builtin = role_metrics(RoleSpec(incumbent="i"), results, {})["i"]
    mini = role_metrics(RoleSpec(incumbent="i", agent="mini"), results, {})["i"]
    assert (builtin.n, builtin.passed) == (2, 2) and (mini.n, mini.passed) == (1, 0)


def test_a_challenger_that_only_ties_the_incumbent_does_not_replace_it():
    role = RoleSpec(incumbent="i", challengers=["a", "b"])  # b keeps two families after a change
    table = {"i": metrics("i", "x", 3, 3, [1, 1, 1]), "a": metrics("a", "y", 3, 3, [1, 1, 1]),
             "b": metrics("b", "z", 0, 3, [])}
    decision = decide(role, table)
    assert decision.candidates[1].eligible is True and decision.promoted is None
    assert decision.candidates[1].reasons[-1] == "ties the incumbent on every measure: the incumbent stays"


def test_identical_repeats_are_one_sample_in_the_promotion_intervals():
    """Three byte-identical 3/3 repeats against 0/3 are one sample each: no evidence, as every
    other report says; three independent repeats of each are beyond noise."""
    def repeats(model: str, outcome: str, digest: str | None) -> list[AttemptResult]:
        return [AttemptResult(canary="c1", tier="lite", model=model, repeat=r, outcome=outcome,
                              conversation_digest=digest if digest else f"{model}-{r}") for r in range(3)]

    role = RoleSpec(incumbent="i", challengers=["a"])
    models = {"i": {"family": "x"}, "a": {"family": "y"}}
    identical = role_metrics(role, repeats("i", "failed", "same-i") + repeats("a", "passed", "same-a"), models)
    assert identical["a"].effective == 1.0 and identical["i"].effective == 1.0
    reason = decide(role, identical).candidates[1].reasons[0]
    assert "within noise at this N" in reason, reason
    distinct = role_metrics(role, repeats("i", "failed", None) + repeats("a", "passed", None), models)
    assert "beyond noise" in decide(role, distinct).candidates[1].reasons[0]
