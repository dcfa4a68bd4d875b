"""Behaviour (return values) of the pipeline. Output/logging is not checked here."""

from pipeline.extract import read_records
from pipeline.load import MemoryTarget, load
from pipeline.notify import notify
from pipeline.run import run
from pipeline.scheduler import plan_runs
from pipeline.transform import add_totals, normalize
from pipeline.validate import validate

LINES = ["apple, 3, 0.5", "", "pear,2", "Plum,x,1", "fig,0,2", "kiwi,5000,1", "melon,1,2.25"]


def test_extract():
    assert read_records(["a,1,2", "", "bad"]) == [{"name": "a", "qty": "1", "price": "2"}]


def test_transform():
    records = normalize([{"name": "A", "qty": "2", "price": "1.25"}, {"name": "B", "qty": "?", "price": "1"}])
    assert add_totals(records) == [{"name": "a", "qty": 2, "price": 1.25, "total": 2.5}]


def test_validate():
    records = [{"name": "a", "qty": 0}, {"name": "b", "qty": 5}, {"name": "c", "qty": 1001}]
    assert validate(records) == [{"name": "b", "qty": 5}]


def test_load():
    target = MemoryTarget()
    assert load([{"name": "a"}, {"name": "b"}], target) == (2, 0)
    assert load([{"name": "a"}], target) == (0, 1)
    assert load([{"name": "c"}], target, replace=True) == (1, 0)
    assert list(target.rows) == ["c"]


def test_scheduler():
    assert plan_runs(22, 2, 3) == [22, 0, 2]
    assert plan_runs(0, 0, 3) == []


def test_notify():
    assert notify({"loaded": 1, "dropped": 0}, ["slack", "fax", "email"]) == ["slack", "email"]


def test_run():
    target = MemoryTarget()
    stats = run(LINES, target, ["email"])
    assert stats == {"loaded": 2, "dropped": 5, "notified": ["email"]}
    assert target.rows["melon"]["total"] == 2.25
