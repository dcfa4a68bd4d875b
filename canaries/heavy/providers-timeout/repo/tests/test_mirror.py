from repohub.mirror import mirror_plan


def test_mirror_plan_targets():
    plan = mirror_plan(["https://github.com/psf/requests", "https://git.sr.ht/sircmpwn/hare"])
    assert [p["target"] for p in plan] == [
        "/srv/mirrors/github/psf/requests",
        "/srv/mirrors/sourcehut/~sircmpwn/hare",
    ]
    assert plan[0]["source"] == "https://github.com/psf/requests.git"
    assert plan[1]["meta"]["provider"] == "sourcehut"


def test_mirror_plan_empty():
    assert mirror_plan([]) == []
