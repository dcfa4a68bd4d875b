import ast
import inspect
import json
import warnings
from pathlib import Path

import pytest

import ledger
import ledger.budget
import ledger.cli
import ledger.core
import ledger.export
import ledger.forecast
import ledger.invoice
import ledger.report
from ledger.core import LineItem

PACKAGE = Path(ledger.__file__).parent
ITEMS = [LineItem("widget", 3, 250), LineItem("gadget", 1, 1999)]  # 2749


@pytest.mark.parametrize(
    "name", ["invoice.py", "report.py", "export.py", "budget.py", "forecast.py", "cli.py"]
)
def test_old_name_gone_from_module(name):
    text = (PACKAGE / name).read_text(encoding="utf-8")
    assert "compute_total" not in text
    assert "calculate_total" in text


def test_old_name_only_in_core_and_init():
    offenders = [
        p.name for p in PACKAGE.glob("*.py")
        if p.name not in ("core.py", "__init__.py") and "compute_total" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_core_defines_both_functions():
    tree = ast.parse((PACKAGE / "core.py").read_text(encoding="utf-8"))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "calculate_total" in functions and "compute_total" in functions
    assert "compute_total" not in (ast.get_docstring(functions["calculate_total"]) or "")


def test_calculate_total_signature_and_behaviour():
    params = inspect.signature(ledger.core.calculate_total).parameters
    assert list(params) == ["items", "discount_percent"]
    assert params["discount_percent"].default == 0
    assert ledger.core.calculate_total(ITEMS) == 2749
    assert ledger.core.calculate_total(ITEMS, 10) == 2474
    assert ledger.core.calculate_total([], 50) == 0
    with pytest.raises(ValueError):
        ledger.core.calculate_total(ITEMS, 101)


def test_calculate_total_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ledger.core.calculate_total(ITEMS, discount_percent=10) == 2474


def test_alias_warns_and_delegates():
    with pytest.warns(DeprecationWarning, match=r"^compute_total is deprecated; use calculate_total$") as record:
        assert ledger.core.compute_total(ITEMS, discount_percent=10) == 2474
    # stacklevel=2: the warning points at the caller (this file), not at core.py
    assert any(Path(w.filename).resolve() == Path(__file__).resolve() for w in record)
    with pytest.warns(DeprecationWarning):
        assert ledger.compute_total(ITEMS) == 2749


def test_package_exports():
    assert set(ledger.__all__) == {"LineItem", "calculate_total", "compute_total"}
    assert len(ledger.__all__) == 3
    assert ledger.calculate_total is ledger.core.calculate_total
    assert ledger.compute_total is ledger.core.compute_total
    assert ledger.LineItem is LineItem
    assert "calculate_total(items, discount_percent=0)" in ledger.__doc__


def test_forecast_keeps_its_alias():
    assert ledger.forecast.total_of is ledger.core.calculate_total


def test_no_public_function_uses_the_deprecated_alias(tmp_path, capsys):
    path = tmp_path / "items.json"
    path.write_text(json.dumps([{"description": "x", "quantity": 2, "unit_price_cents": 100}]))
    orders = {"a": ITEMS, "b": ITEMS[:1]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ledger.invoice.render_invoice("ACME", ITEMS).endswith("Total: 27.49")
        assert ledger.report.order_totals(orders) == {"a": 2749, "b": 750}
        assert ledger.report.largest_order(orders) == "a"
        assert ledger.export.to_csv(ITEMS).splitlines()[-1] == "TOTAL,,,2749"
        assert ledger.budget.remaining(ITEMS, 3000) == 251
        assert ledger.budget.over_budget(ITEMS, 3000) is False
        assert ledger.forecast.monthly_forecast(ITEMS, 2) == [2749, 2749]
        assert ledger.cli.main([str(path)]) == 0
    assert capsys.readouterr().out == "200\n"
