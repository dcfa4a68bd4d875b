"""Behaviour of the package. These tests deliberately still use the old name on purpose in
test_old_name_still_works: it must keep working after the rename."""

import json

import pytest

import ledger
from ledger.budget import over_budget, remaining
from ledger.cli import main
from ledger.core import LineItem
from ledger.export import to_csv
from ledger.forecast import monthly_forecast
from ledger.invoice import render_invoice
from ledger.report import largest_order, order_totals

ITEMS = [LineItem("widget", 3, 250), LineItem("gadget", 1, 1999)]  # 750 + 1999 = 2749


def test_invoice():
    assert render_invoice("ACME", ITEMS, 10) == (
        "Invoice for ACME\n  3 x widget @ 2.50\n  1 x gadget @ 19.99\n  discount 10%\nTotal: 24.74"
    )


def test_report():
    orders = {"a": ITEMS, "b": ITEMS[:1], "c": []}
    assert order_totals(orders) == {"a": 2749, "b": 750, "c": 0}
    assert largest_order(orders) == "a"
    assert largest_order({}) is None


def test_export():
    assert to_csv(ITEMS).splitlines()[-1] == "TOTAL,,,2749"


def test_budget():
    assert remaining(ITEMS, 3000) == 251
    assert over_budget(ITEMS, 2000) is True


def test_forecast():
    assert monthly_forecast(ITEMS, 3, 10) == [2749, 3023, 3325]


def test_cli(tmp_path, capsys):
    path = tmp_path / "items.json"
    path.write_text(json.dumps([{"description": "x", "quantity": 2, "unit_price_cents": 100}]))
    assert main([str(path), "--discount", "50"]) == 0
    assert capsys.readouterr().out == "100\n"
    assert main([str(path), "--discount", "101"]) == 2


def test_old_name_still_works():
    assert ledger.compute_total(ITEMS) == 2749
    with pytest.raises(ValueError):
        ledger.compute_total(ITEMS, -1)
