import pytest

from primes import is_prime, primes_up_to


def test_small_primes():
    assert primes_up_to(10) == [2, 3, 5, 7]
    assert primes_up_to(1) == []


def test_is_prime_basics():
    assert is_prime(2) and is_prime(3) and is_prime(97)
    assert not is_prime(1) and not is_prime(100)


@pytest.mark.slow
def test_the_thousandth_prime():
    assert len(primes_up_to(7919)) == 1000
    assert primes_up_to(7919)[-1] == 7919


@pytest.mark.slow
def test_is_prime_agrees_with_the_sieve():
    assert [n for n in range(2000) if is_prime(n)] == primes_up_to(1999)
