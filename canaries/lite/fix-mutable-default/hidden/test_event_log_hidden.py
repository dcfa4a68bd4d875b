import inspect

from event_log import EventLog


def test_logs_without_events_do_not_share_a_list():
    first = EventLog("a")
    second = EventLog("b")
    first.record("x")
    assert first.events == ["x"]
    assert second.events == []
    assert EventLog("c").events == []
    assert first.events is not second.events


def test_explicit_none_gives_fresh_list():
    log = EventLog("a", events=None)
    log.record("x")
    assert EventLog("b", None).events == []


def test_given_events_are_copied():
    source = ["boot"]
    log = EventLog("a", events=source)
    assert log.events == ["boot"]
    log.record("ready")
    assert source == ["boot"]
    source.append("later")
    assert log.events == ["boot", "ready"]


def test_default_max_events_is_100():
    log = EventLog("a")
    assert log.max_events == 100
    for i in range(150):
        log.record(str(i))
    assert len(log.events) == 100
    assert log.events[0] == "50"
    assert log.last(2) == ["148", "149"]


def test_explicit_max_events_still_bounds_the_log():
    log = EventLog("a", max_events=2)
    for event in "abc":
        log.record(event)
    assert log.events == ["b", "c"]
    assert log.name == "a"


def test_signature():
    params = inspect.signature(EventLog).parameters
    assert list(params) == ["name", "events", "max_events"]
    assert params["events"].default is None
    assert params["max_events"].default == 100
