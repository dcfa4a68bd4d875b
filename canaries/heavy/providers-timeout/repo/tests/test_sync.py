import pytest

from repohub.sync import sync_repo


@pytest.mark.parametrize(
    ("url", "api"),
    [
        ("https://github.com/psf/requests", "https://api.github.com/repos/psf/requests"),
        ("https://gitlab.com/inkscape/inkscape.git", "https://gitlab.com/api/v4/projects/inkscape%2Finkscape"),
        ("https://bitbucket.org/Atlassian/Python-Bitbucket", "https://api.bitbucket.org/2.0/repositories/atlassian/python-bitbucket"),
        ("https://codeberg.org/forgejo/forgejo", "https://codeberg.org/api/v1/repos/forgejo/forgejo"),
        ("https://git.sr.ht/~sircmpwn/hare", "https://git.sr.ht/api/~sircmpwn/repos/hare"),
    ],
)
def test_sync_repo_api(url, api):
    info = sync_repo(url)
    assert info["api"] == api
    assert info["user_agent"] == "repohub/1.4"


def test_unknown_host():
    with pytest.raises(LookupError):
        sync_repo("https://example.com/a/b")
