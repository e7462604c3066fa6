import json
import typing


def fn(input: typing.Optional[str], headers: typing.Optional[typing.Dict[str, str]]) -> typing.Optional[str]:
    """Return the request headers as a JSON object, keys sorted."""
    return json.dumps(headers, sort_keys=True)
