"""Prime numbers for the key generator."""


def is_prime(n: int) -> bool:
    """Whether n is a prime number (n < 2 is not)."""
    if n < 2:
        return False
    divisor = 2
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 1
    return True


def primes_up_to(limit: int) -> list[int]:
    """Every prime p with 2 <= p <= limit, ascending (sieve of Eratosthenes)."""
    if limit < 2:
        return []
    sieve = [True] * (limit + 1)
    sieve[0] = sieve[1] = False
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            for multiple in range(i * i, limit + 1, i):
                sieve[multiple] = False
    return [number for number, prime in enumerate(sieve) if prime]
