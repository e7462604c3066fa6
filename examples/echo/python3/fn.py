import typing


def fn(input: typing.Optional[str], headers: typing.Optional[typing.Dict[str, str]]) -> typing.Optional[str]:
    """Return the request body unchanged (None for an empty body)."""
    return input
