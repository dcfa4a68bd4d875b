import pytest

from primes import is_prime, primes_up_to


def test_small_primes():
    assert primes_up_to(10) == [2, 3, 5, 7]
    assert primes_up_to(2) == [2]
    assert primes_up_to(13) == [2, 3, 5, 7, 11, 13]
    assert primes_up_to(1) == [] and primes_up_to(-3) == []


@pytest.mark.parametrize("square", [4, 9, 25, 49, 121, 169, 961])
def test_squares_of_primes_are_not_prime(square):
    assert not is_prime(square)


def test_the_thousandth_prime():
    assert len(primes_up_to(7919)) == 1000
    assert primes_up_to(7919)[-1] == 7919


def test_is_prime_agrees_with_the_sieve():
    assert [n for n in range(3000) if is_prime(n)] == primes_up_to(2999)
