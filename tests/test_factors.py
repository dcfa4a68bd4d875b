"""Tuning factors, unit level: budget values (a number or a multiple of the canary's), their
place in a canary's budget, and the directives table."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_agentbench.run.variants import SweepError, Variant, parse_sweeps
from pytest_agentbench.schemas.budget import BudgetValueError, apply_budget, parse_budget
from pytest_agentbench.schemas.canary import Canary
from pytest_agentbench.schemas.factors import DirectiveError, check_directive, load_directives
from pytest_agentbench.schemas.models import ModelSpec


@pytest.mark.parametrize("key, value, parsed", [
    ("turns", "12", 12), ("turns", 12, 12), ("turns", "x2", "x2"), ("turns", "X1.50", "x1.5"),
    ("tokens", "40000", 40000), ("seconds", "2.5", 2.5), ("seconds", "x3", "x3"),
])
def test_budget_values_are_numbers_or_multiples(key, value, parsed):
    assert parse_budget(key, value) == parsed


@pytest.mark.parametrize("key, value, message", [
    ("turns", "lots", "expected a positive whole number or a multiple"),
    ("turns", "2.5", "whole"), ("turns", 0, "positive"), ("tokens", "x0", "above 0"),
    ("seconds", "x-1", "above 0"), ("seconds", "inf", "positive number"), ("turns", True, "positive"),
])
def test_bad_budget_values_say_what_is_expected(key, value, message):
    with pytest.raises(BudgetValueError, match=message):
        parse_budget(key, value)


def test_a_multiple_rounds_up_and_a_number_replaces():
    assert apply_budget("turns", 5, "x1.5") == 8
    assert apply_budget("seconds", 10.0, "x1.5") == 15.0
    assert apply_budget("tokens", 1000, 300) == 300
    assert apply_budget("turns", 5, None) == 5


def test_budget_precedence_tier_canary_factor_command_line():
    canary = Canary(id="c", tier="lite", prompt="p", budget={"turns": 6})
    assert canary.resolved_budget().turns == 6  # the canary's own
    assert canary.resolved_budget(factors={"turns": "x2"}).turns == 12  # a multiple of it
    assert canary.resolved_budget(factors={"turns": 30, "tokens": "x3"}).model_dump() == {
        "turns": 30, "tokens": 120_000, "seconds": 300}  # tokens: x3 of the lite tier's 40000
    assert canary.resolved_budget(turns=4, factors={"turns": 30}).turns == 4  # the command line wins


def test_the_registry_checks_budget_fields():
    assert ModelSpec(turns="x2", tokens=9000, seconds="45").seconds == 45.0
    with pytest.raises(ValidationError, match="'many': expected a positive whole number"):
        ModelSpec(tokens="many")


def test_directives_are_read_from_pyproject_and_agentbench_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.agentbench.directives]\ncompleteness = "Check every file."\nterse = "Be brief."\n')
    (tmp_path / "agentbench.toml").write_text('[directives]\nterse = "Be very brief."\n')
    assert load_directives(tmp_path) == {"completeness": "Check every file.", "terse": "Be very brief."}


@pytest.mark.parametrize("table, message", [
    ('none = "x"', "'none' is reserved"), ('empty = "  "', "'empty' must be non-empty text"),
    ("n = 3", "'n' must be non-empty text"),
])
def test_bad_directive_tables_are_refused(tmp_path, table, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.agentbench.directives]\n{table}\n")
    with pytest.raises(DirectiveError, match=message):
        load_directives(tmp_path)


def test_an_undeclared_directive_names_the_known_ones():
    check_directive("none", {}, "x")  # none is always allowed
    with pytest.raises(DirectiveError, match=r"directive 'brevity' is not declared \(known: completeness"):
        check_directive("brevity", {"completeness": "..."}, "model 'm'")


def test_a_directive_is_appended_to_the_system_prompt_and_none_drops_it():
    directives = {"completeness": "Check every file the task names."}
    model = ModelSpec(name="m", system_prompt="You are an agent.", directive="completeness")
    with_it = Variant(directives=directives).apply(model)
    assert with_it.system_prompt == "You are an agent.\n\nCheck every file the task names."
    without = Variant("directive=none", {"directive": "none"}, directives=directives).apply(model)
    assert without.system_prompt == "You are an agent."
    assert model.system_prompt == "You are an agent."  # the registry's model is not changed


def test_sweeping_new_factors_checks_each_value():
    variants = parse_sweeps(["turns=10,x2", "directive=none,completeness"], {"completeness": "..."})
    assert [v.name for v in variants] == ["turns=10,directive=none", "turns=10,directive=completeness",
                                          "turns=x2,directive=none", "turns=x2,directive=completeness"]
    with pytest.raises(SweepError, match=r"--agentbench-sweep: tokens=few: 'few': expected"):
        parse_sweeps(["tokens=few"])
    with pytest.raises(SweepError, match="directive=terse: directive 'terse' is not declared"):
        parse_sweeps(["directive=terse"], {"completeness": "..."})
