"""Small JSON files on the board's filesystem (config, keys): read whole, parsed, a clear error when malformed."""

import json

from pump.errors import E_MALFORMED, PumpError


def read_json(path, what):
    """The document in the file at `path`; None when there is no such file; E_MALFORMED naming `what` if not JSON."""
    try:
        f = open(path)
    except OSError:
        return None
    with f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        raise PumpError(E_MALFORMED, "%s: %s is not valid JSON" % (what, path))
