"""Pump keys file (keys.json): make one from os.urandom (mode 0600, never printed), load and check one.

    python -m tools.keys [--out keys.json]      (or `make keys`)

keys.json = {"clinician": "<64 hex>", "patient": "<64 hex>"}: two 32-byte keys, the clinician's (programming,
refill, prime, bolus, suspend/resume, clock, acknowledge) and the patient's. The same file goes onto the board
(`make deploy`). It is git-ignored and is never overwritten: to replace the keys, delete the file first, then
redeploy every board that had the old ones.
"""

import argparse
import json
import os
import stat
import sys

from pump.cmdauth import ROLE_NAMES, parse_keys  # the pump's own check of the format
from pump.errors import PumpError
from tools import ROOT

DEFAULT_PATH = os.path.join(ROOT, "keys.json")
KEY_NAMES = ROLE_NAMES
KEY_BYTES = 32


class KeysError(Exception):
    """A keys file that cannot be used; the message names the file and the field, never a key's value."""


def new_keys():
    """A fresh keys document: each key from os.urandom, as lower-case hex."""
    return {name: os.urandom(KEY_BYTES).hex() for name in KEY_NAMES}


def create(path=DEFAULT_PATH):
    """Write a new keys file readable by its owner only; KeysError if the file already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise KeysError("%s: already exists; delete it first to make new keys, then redeploy every board" % path) from e
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # whatever the umask
        json.dump(new_keys(), f, indent=1)
        f.write("\n")
    return path


def load(path=DEFAULT_PATH, names=KEY_NAMES):
    """{name: 32 bytes} for the keys in `names`, from a keys file that only its owner may read."""
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise KeysError("%s: no such file (run `make keys` to make one)" % path) from e
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise KeysError("%s: readable by others (mode %03o); run: chmod 600 %s" % (path, mode, path))
    try:
        with open(path) as f:
            doc = json.load(f)
    except ValueError as e:
        raise KeysError("%s: not valid JSON" % path) from e
    try:
        parse_keys(doc)  # exactly what the pump will accept
    except PumpError as e:
        raise KeysError("%s: %s" % (path, e.detail)) from e
    out = {name: bytes.fromhex(doc[name]) for name in KEY_NAMES}
    return {name: out[name] for name in names}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.keys", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_PATH, help="keys file to create (default: keys.json)")
    args = ap.parse_args(argv)
    try:
        create(args.out)
    except KeysError as e:
        print("keys: %s" % e, file=sys.stderr)
        return 1
    print("wrote %s: clinician and patient keys, mode 0600 (keep it out of version control)" % args.out)
    return 0

