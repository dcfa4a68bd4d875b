from checksum import checksum


def test_empty():
    assert checksum(b"") == 7


def test_a_word():
    assert checksum(b"Wikipedia") == 303563686


def test_a_version_string():
    assert checksum(b"firmware-v1.2.3") == 769459458


def test_more_than_sixteen_bytes():
    assert checksum(bytes(range(40))) == 532152327
