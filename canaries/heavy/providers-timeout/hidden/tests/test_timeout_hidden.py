import inspect

import pytest

import repohub.settings
from repohub import providers
from repohub.mirror import mirror_plan
from repohub.providers import bitbucket, gitea, github, gitlab, sourcehut
from repohub.sync import sync_repo

# What each provider returned before the change, for one URL (the new "timeout" key aside).
EXPECTED = {
    github: ("https://github.com/psf/requests.git", {
        "provider": "github", "owner": "psf", "repo": "requests",
        "api": "https://api.github.com/repos/psf/requests",
        "clone": "https://github.com/psf/requests.git"}),
    gitlab: ("https://gitlab.com/inkscape/inkscape", {
        "provider": "gitlab", "owner": "inkscape", "repo": "inkscape",
        "api": "https://gitlab.com/api/v4/projects/inkscape%2Finkscape",
        "clone": "https://gitlab.com/inkscape/inkscape.git", "default_branch_hint": "main"}),
    bitbucket: ("https://bitbucket.org/Atlassian/Python-Bitbucket", {
        "provider": "bitbucket", "owner": "Atlassian", "repo": "Python-Bitbucket",
        "api": "https://api.bitbucket.org/2.0/repositories/atlassian/python-bitbucket",
        "clone": "https://bitbucket.org/Atlassian/Python-Bitbucket.git"}),
    gitea: ("https://codeberg.org/forgejo/forgejo", {
        "provider": "gitea", "owner": "forgejo", "repo": "forgejo",
        "api": "https://codeberg.org/api/v1/repos/forgejo/forgejo",
        "clone": "https://codeberg.org/forgejo/forgejo.git", "host": "codeberg.org"}),
    sourcehut: ("https://git.sr.ht/sircmpwn/hare", {
        "provider": "sourcehut", "owner": "~sircmpwn", "repo": "hare",
        "api": "https://git.sr.ht/api/~sircmpwn/repos/hare",
        "clone": "https://git.sr.ht/~sircmpwn/hare"}),
}
MODULES = list(EXPECTED)
IDS = [m.NAME for m in MODULES]


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_signature(module):
    params = inspect.signature(module.fetch).parameters
    assert list(params) == ["url", "timeout"]
    timeout = params["timeout"]
    assert timeout.kind is inspect.Parameter.KEYWORD_ONLY
    assert timeout.default is inspect.Parameter.empty
    assert timeout.annotation in (float, "float")


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_timeout_is_required_and_keyword_only(module):
    url = EXPECTED[module][0]
    with pytest.raises(TypeError):
        module.fetch(url)
    with pytest.raises(TypeError):
        module.fetch(url, 5.0)


@pytest.mark.parametrize("module", MODULES, ids=IDS)
@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5])
def test_non_positive_timeout(module, bad):
    with pytest.raises(ValueError, match="^timeout must be positive$"):
        module.fetch(EXPECTED[module][0], timeout=bad)


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_non_positive_timeout_checked_first(module):
    # the check comes before URL parsing: a bad URL with a bad timeout reports the timeout
    with pytest.raises(ValueError, match="^timeout must be positive$"):
        module.fetch("not a url", timeout=0)


@pytest.mark.parametrize("module", MODULES, ids=IDS)
@pytest.mark.parametrize("timeout", [2.5, 30, 0.001])
def test_result_gains_timeout_only(module, timeout):
    url, expected = EXPECTED[module]
    assert module.fetch(url, timeout=timeout) == {**expected, "timeout": timeout}


def test_registry_docstring_describes_new_interface():
    doc = providers.__doc__
    assert "fetch(url, *, timeout)" in doc
    assert "fetch(url)" not in doc


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_sync_repo_default_timeout(module):
    url, expected = EXPECTED[module]
    info = sync_repo(url)
    assert info == {**expected, "timeout": 10.0, "user_agent": "repohub/1.4"}


def test_sync_repo_explicit_timeout():
    assert sync_repo("https://github.com/psf/requests", timeout=3.0)["timeout"] == 3.0
    assert sync_repo("https://github.com/psf/requests", 4.0)["timeout"] == 4.0
    with pytest.raises(ValueError):
        sync_repo("https://github.com/psf/requests", timeout=0)


def test_sync_repo_reads_setting_at_call_time(monkeypatch):
    monkeypatch.setattr(repohub.settings, "DEFAULT_TIMEOUT", 7.0)
    assert sync_repo("https://git.sr.ht/~a/b")["timeout"] == 7.0


URLS = [EXPECTED[m][0] for m in MODULES]


def test_mirror_plan_default_timeout():
    plan = mirror_plan(URLS)
    assert [p["meta"]["timeout"] for p in plan] == [10.0] * 5
    assert [p["meta"]["provider"] for p in plan] == IDS
    assert plan[2]["target"] == "/srv/mirrors/bitbucket/Atlassian/Python-Bitbucket"
    assert plan[3]["source"] == "https://codeberg.org/forgejo/forgejo.git"


def test_mirror_plan_explicit_timeout():
    assert [p["meta"]["timeout"] for p in mirror_plan(URLS, timeout=1.5)] == [1.5] * 5
    assert [p["meta"]["timeout"] for p in mirror_plan(URLS, 2.0)] == [2.0] * 5
    with pytest.raises(ValueError):
        mirror_plan(URLS, timeout=-1)


def test_mirror_plan_reads_setting_at_call_time(monkeypatch):
    monkeypatch.setattr(repohub.settings, "DEFAULT_TIMEOUT", 42.0)
    assert [p["meta"]["timeout"] for p in mirror_plan(URLS)] == [42.0] * 5


def test_callers_signatures():
    for func in (sync_repo, mirror_plan):
        timeout = inspect.signature(func).parameters["timeout"]
        assert timeout.default is None
