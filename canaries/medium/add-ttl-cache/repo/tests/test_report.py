import pytest

from weather.report import daily_report


def test_daily_report_lines():
    assert daily_report(["Oslo", "Cairo"]) == "Oslo: 4.5 C\nCairo: 31.5 C"


def test_daily_report_empty():
    assert daily_report([]) == ""


def test_daily_report_unknown_city():
    with pytest.raises(LookupError):
        daily_report(["Atlantis"])
