import typing


def fn(input: typing.Optional[str], headers: typing.Optional[typing.Dict[str, str]]) -> typing.Optional[str]:
    """Count the primes up to N, where N is the body as an integer (10000 when
    the body is empty), with the sieve of Eratosthenes."""
    n = 10000 if input is None or input.strip() == "" else int(input)
    if n < 2:
        return "0"
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    i = 2
    while i * i <= n:
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, n + 1, i)))
        i += 1
    return str(sum(sieve))
