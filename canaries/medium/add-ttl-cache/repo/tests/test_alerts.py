from weather.alerts import heat_alerts


def test_heat_alerts_threshold_is_inclusive():
    assert heat_alerts(["Oslo", "Cairo", "Singapore", "Lima"], 30.0) == ["Cairo", "Singapore"]


def test_heat_alerts_none():
    assert heat_alerts(["Reykjavik"], 0.0) == []
