from checksum import checksum


def test_fresh_inputs():
    assert checksum(b"a") == 6815848
    assert checksum(b"Wikipedia!") == 367395790
    assert checksum(bytes(range(256)) * 3) == 80740359
    assert checksum(b"\xff" * 100) == 2408140877
    assert checksum(b"firmware-v1.2.4") == 769262847
    assert checksum(b"0123456789abcdef0123") == 152241383


def test_the_visible_cases_too():
    assert checksum(b"") == 7
    assert checksum(b"Wikipedia") == 303563686
    assert checksum(bytes(range(40))) == 532152327
