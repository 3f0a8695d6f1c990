"""Pump keys file (keys.json): make one from os.urandom (mode 0600, never printed), load and check one.

    python -m tools.keys [--out keys.json]      (or `make keys`)
    python -m tools.keys --add-monitor          add a monitor key to a keys file made before the monitor role
    python -m tools.keys --monitor-out monitor.json     the monitor key alone, for the dashboard

keys.json = {"clinician": "<64 hex>", "patient": "<64 hex>", "monitor": "<64 hex>"}: three 32-byte keys, the
clinician's (programming, refill, prime, bolus, suspend/resume, clock, acknowledge), the patient's, and the read-only
monitor's (a secure session for telemetry and history, no command). The same file goes onto the board (`make
deploy`). It is git-ignored and is never overwritten: to replace the keys, delete the file first, then redeploy every
board that had the old ones. The monitor's file holds that key only, so a browser given it can command nothing.
"""

import argparse
import json
import os
import stat
import sys

from pump.cmdauth import ROLE_NAMES, parse_keys  # the pump's own check of the format
from pump.errors import E_MALFORMED, PumpError
from tools import ROOT

DEFAULT_PATH = os.path.join(ROOT, "keys.json")
KEY_NAMES = ROLE_NAMES
KEY_BYTES = 32


class KeysError(Exception):
    """A keys file that cannot be used; the message names the file and the field, never a key's value."""


def new_keys():
    """A fresh keys document: each key from os.urandom, as lower-case hex."""
    return {name: os.urandom(KEY_BYTES).hex() for name in KEY_NAMES}


def _write_private(path, doc):
    """Write doc to a new file readable by its owner only; KeysError if the file exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise KeysError("%s: already exists" % path) from e
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # whatever the umask
        json.dump(doc, f, indent=1)
        f.write("\n")
    return path


def create(path=DEFAULT_PATH):
    """Write a new keys file readable by its owner only; KeysError if the file already exists."""
    try:
        return _write_private(path, new_keys())
    except KeysError as e:
        raise KeysError("%s: already exists; delete it first to make new keys, then redeploy every board" % path) from e


def load(path=DEFAULT_PATH, names=None):
    """{name: 32 bytes} for the keys in `names` (default: all the file holds), from a keys file that only its owner
    may read: keys.json as the pump takes it, or, when only ("monitor",) is asked for, the monitor's own file."""
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
    # the file --monitor-out writes, where only the monitor's key is asked for (the pump needs the command keys)
    monitor_only = isinstance(doc, dict) and sorted(doc) == ["monitor"] and tuple(names or ()) == ("monitor",)
    try:
        if monitor_only:
            _check_hex(doc["monitor"], "monitor")
        else:
            parse_keys(doc)  # exactly what the pump will accept
    except PumpError as e:
        raise KeysError("%s: %s" % (path, e.detail)) from e
    out = {name: bytes.fromhex(doc[name]) for name in KEY_NAMES if name in doc}
    for name in names or ():
        if name not in out:
            raise KeysError("%s: no %s key (run python -m tools.keys --add-monitor)" % (path, name))
    return {name: out[name] for name in names or out}


def _check_hex(value, name):
    try:
        ok = isinstance(value, str) and len(bytes.fromhex(value)) == KEY_BYTES and len(value) == 2 * KEY_BYTES
    except ValueError:
        ok = False
    if not ok:
        raise PumpError(E_MALFORMED, "keys.%s: must be 64 hex digits" % name)


def add_monitor(path=DEFAULT_PATH):
    """Add a fresh monitor key to a keys file that has none (the other keys stay as they are)."""
    have = load(path)
    if "monitor" in have:
        raise KeysError("%s: already has a monitor key" % path)
    doc = {name: key.hex() for name, key in have.items()}
    doc["monitor"] = os.urandom(KEY_BYTES).hex()
    parse_keys(doc)
    tmp = path + ".tmp"
    _write_private(tmp, doc)
    os.replace(tmp, path)  # the old file or the new one, never half of either
    return path


def export_monitor(out, path=DEFAULT_PATH):
    """Write the monitor key alone, {"monitor": "<64 hex>"}, to a new private file (for the dashboard)."""
    return _write_private(out, {"monitor": load(path, ("monitor",))["monitor"].hex()})


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.keys", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_PATH, help="keys file to create (default: keys.json)")
    ap.add_argument("--add-monitor", action="store_true", help="add a monitor key to the existing keys file")
    ap.add_argument("--monitor-out", metavar="PATH", help="write the monitor key alone to PATH (a new file)")
    args = ap.parse_args(argv)
    try:
        if args.add_monitor:
            add_monitor(args.out)
            print("added a monitor key to %s: deploy it to the pump again" % args.out)
        elif args.monitor_out:
            export_monitor(args.monitor_out, args.out)
            print("wrote %s: the monitor key alone, mode 0600" % args.monitor_out)
        else:
            create(args.out)
            print("wrote %s: clinician, patient and monitor keys, mode 0600 (keep it out of version control)"
                  % args.out)
    except KeysError as e:
        print("keys: %s" % e, file=sys.stderr)
        return 1
    return 0

