"""The firmware image checksum (FWC-16), as the bootloader computes it."""

MOD = 65521


def checksum(data: bytes) -> int:
    a, b = 7, 0
    for index, byte in enumerate(data):
        a = (a + (byte ^ (index & 0xFF))) % MOD
        b = (b + a) % MOD
        if index % 16 == 15:
            b = ((b << 3) | (b >> 13)) & 0xFFFF
            b %= MOD
    return (b << 16) | a
