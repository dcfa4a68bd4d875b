import ast
import logging
from pathlib import Path

import pytest

import pipeline
from pipeline import extract, load, notify, scheduler, transform, validate
from pipeline.load import MemoryTarget
from pipeline.run import run

PACKAGE = Path(pipeline.__file__).parent
MODULES = [extract, transform, validate, load, scheduler, notify]
NAMES = ["extract", "transform", "validate", "load", "scheduler", "notify"]


@pytest.fixture
def logs(caplog, capsys):
    """Collect (logger, level, message) of every record; stdout must stay empty."""
    caplog.set_level(logging.DEBUG)

    def collect():
        records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
        caplog.clear()
        assert capsys.readouterr().out == ""
        return records

    return collect


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_print_calls(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prints = [
        node.lineno for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert prints == []


@pytest.mark.parametrize("module", MODULES, ids=NAMES)
def test_module_logger(module):
    assert isinstance(module.logger, logging.Logger)
    assert module.logger is logging.getLogger(module.__name__)
    assert module.logger.handlers == []
    assert module.logger.level == logging.NOTSET
    assert module.logger.propagate is True


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_logging_configuration(path):
    text = path.read_text(encoding="utf-8")
    for forbidden in ("basicConfig", "addHandler", "setLevel", "propagate", "dictConfig", "fileConfig"):
        assert forbidden not in text


def test_extract(logs):
    assert extract.read_records(["a,1,2", "", "bad", " b , 2 , 3 ", "x,y"]) == [
        {"name": "a", "qty": "1", "price": "2"}, {"name": "b", "qty": "2", "price": "3"}]
    assert logs() == [
        ("pipeline.extract", "INFO", "extracting 5 lines"),
        ("pipeline.extract", "DEBUG", "skipping blank line 2"),
        ("pipeline.extract", "WARNING", "line 3: expected 3 fields, got 1"),
        ("pipeline.extract", "WARNING", "line 5: expected 3 fields, got 2"),
        ("pipeline.extract", "INFO", "extracted 2 records"),
    ]


def test_transform(logs):
    records = transform.normalize([
        {"name": "A", "qty": "2", "price": "1.25"},
        {"name": "B", "qty": "?", "price": "1"},
        {"name": "C", "qty": "1", "price": "cheap"},
    ])
    assert records == [{"name": "a", "qty": 2, "price": 1.25}]
    assert logs() == [
        ("pipeline.transform", "ERROR", "cannot convert 'B': invalid literal for int() with base 10: '?'"),
        ("pipeline.transform", "ERROR", "cannot convert 'C': could not convert string to float: 'cheap'"),
        ("pipeline.transform", "DEBUG", "normalized 1 of 3 records"),
    ]
    assert transform.add_totals(records)[0]["total"] == 2.5
    assert logs() == [("pipeline.transform", "DEBUG", "totals added")]


def test_validate(logs):
    records = [{"name": "a", "qty": 0}, {"name": "b", "qty": 5}, {"name": "c", "qty": 1001},
               {"name": "d", "qty": -2}]
    assert validate.validate(records) == [{"name": "b", "qty": 5}]
    assert logs() == [
        ("pipeline.validate", "WARNING", "dropping a: quantity 0 is not positive"),
        ("pipeline.validate", "ERROR", "dropping c: quantity 1001 exceeds 1000"),
        ("pipeline.validate", "WARNING", "dropping d: quantity -2 is not positive"),
        ("pipeline.validate", "INFO", "1 valid records"),
    ]
    assert validate.validate([{"name": "a", "qty": 0}]) == []
    assert logs() == [
        ("pipeline.validate", "WARNING", "dropping a: quantity 0 is not positive"),
        ("pipeline.validate", "WARNING", "no valid records left"),
        ("pipeline.validate", "INFO", "0 valid records"),
    ]


def test_load(logs):
    target = MemoryTarget()
    target.rows = {"a": {}, "b": {}}
    assert load.load([{"name": "a"}, {"name": "c"}], target, replace=True) == (2, 0)
    assert logs() == [
        ("pipeline.load", "INFO", "clearing 2 existing rows"),
        ("pipeline.load", "INFO", "loaded 2 new and 0 updated rows"),
    ]
    assert load.load([{"name": "a"}, {"name": "d"}], target) == (1, 1)
    assert logs() == [("pipeline.load", "INFO", "loaded 1 new and 1 updated rows")]


def test_scheduler(logs):
    assert scheduler.plan_runs(22, 2, 3) == [22, 0, 2]
    assert logs() == [("pipeline.scheduler", "DEBUG", "planned hours: [22, 0, 2]")]
    assert scheduler.plan_runs(6, 12, 3) == [6, 18, 6]
    assert logs() == [
        ("pipeline.scheduler", "DEBUG", "planned hours: [6, 18, 6]"),
        ("pipeline.scheduler", "WARNING", "some runs fall on the same hour"),
    ]
    assert scheduler.plan_runs(0, 0, 3) == []
    assert logs() == [("pipeline.scheduler", "ERROR", "invalid interval: 0")]


def test_notify(logs):
    assert notify.notify({"loaded": 2, "dropped": 5}, ["slack", "fax", "email"]) == ["slack", "email"]
    assert logs() == [
        ("pipeline.notify", "INFO", "pipeline finished: 2 loaded, 5 dropped"),
        ("pipeline.notify", "DEBUG", "sent 38 characters to slack"),
        ("pipeline.notify", "WARNING", "unknown channel 'fax', skipping"),
        ("pipeline.notify", "DEBUG", "sent 38 characters to email"),
    ]
    assert notify.notify({"loaded": 0, "dropped": 1}, ["fax"]) == []
    assert logs() == [
        ("pipeline.notify", "INFO", "pipeline finished: 0 loaded, 1 dropped"),
        ("pipeline.notify", "WARNING", "unknown channel 'fax', skipping"),
        ("pipeline.notify", "ERROR", "notification was not delivered anywhere"),
    ]
    assert notify.summary_message({"loaded": 1, "dropped": 0}) == "pipeline finished: 1 loaded, 0 dropped"
    assert logs() == [("pipeline.notify", "INFO", "pipeline finished: 1 loaded, 0 dropped")]


def test_whole_run_is_silent_on_stdout_and_logs_in_order(logs):
    lines = ["apple, 3, 0.5", "", "pear,2", "Plum,x,1", "fig,0,2", "kiwi,5000,1", "melon,1,2.25"]
    stats = run(lines, MemoryTarget(), ["email"])
    assert stats == {"loaded": 2, "dropped": 5, "notified": ["email"]}
    records = logs()
    order = []
    for name, _, _ in records:
        if not order or order[-1] != name:
            order.append(name)
    assert order == ["pipeline.extract", "pipeline.transform", "pipeline.validate", "pipeline.load",
                     "pipeline.notify"]
    assert len(records) == 13


def test_info_level_filters_debug(caplog, capsys):
    caplog.set_level(logging.INFO)
    scheduler.plan_runs(22, 2, 3)
    assert caplog.records == []
    assert capsys.readouterr().out == ""
