"""Files generated from the firmware's own code (the dashboard's definitions and demo, the BLE test vectors): one
command line writes such a file, or with `--check` compares it (exit 1 when it is missing or out of date)."""

import argparse
import os


def main(argv, prog, path, text, description):
    """`python -m PROG [--check]`: write `text()` to `path`, or compare it with what `path` holds."""
    ap = argparse.ArgumentParser(prog="python -m " + prog, description=description)
    ap.add_argument("--check", action="store_true", help="compare only")
    args = ap.parse_args(argv)
    want = text()
    if args.check:
        try:
            with open(path) as f:
                have = f.read()
        except OSError:
            have = None
        if have != want:
            print("%s is out of date: run python -m %s" % (path, prog))
            return 1
        return 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(want)
    print("wrote %s" % path)
    return 0
