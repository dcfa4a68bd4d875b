import dataclasses

import pytest

from version import Version


@pytest.mark.parametrize(
    ("part", "expected"),
    [("major", Version(2, 0, 0)), ("minor", Version(1, 5, 0)), ("patch", Version(1, 4, 3))],
)
def test_bump(part, expected):
    original = Version(1, 4, 2)
    bumped = original.bump(part)
    assert bumped == expected
    assert isinstance(bumped, Version)
    assert original == Version(1, 4, 2)
    assert bumped is not original


def test_bump_from_zero_and_chained():
    assert Version(0, 0, 0).bump("patch") == Version(0, 0, 1)
    assert Version(0, 9, 9).bump("minor").bump("patch") == Version(0, 10, 1)
    assert str(Version.parse("3.2.1").bump("major")) == "4.0.0"


@pytest.mark.parametrize("part", ["Major", "", "build", "MINOR", " patch"])
def test_bump_rejects_unknown_part(part):
    with pytest.raises(ValueError):
        Version(1, 2, 3).bump(part)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.2.3", "1.9.0", True),
        ("1.2.3", "1.2.3", True),
        ("1.2.3", "1.0.0", True),
        ("1.2.3", "2.0.0", False),
        ("2.0.0", "1.9.9", False),
        ("0.3.1", "0.3.9", True),
        ("0.3.1", "0.3.0", True),
        ("0.3.1", "0.4.0", False),
        ("0.3.1", "1.3.1", False),
        ("0.0.1", "0.0.5", True),
    ],
)
def test_is_compatible_with(a, b, expected):
    assert Version.parse(a).is_compatible_with(Version.parse(b)) is expected


def test_existing_api_unchanged():
    assert [f.name for f in dataclasses.fields(Version)] == ["major", "minor", "patch"]
    assert Version.parse(" 1.4.2 ") == Version(1, 4, 2)
    assert str(Version(1, 4, 2)) == "1.4.2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Version(1, 0, 0).major = 2
