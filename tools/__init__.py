"""What people run on a laptop, one package per tool (docs/architecture.md); importing it puts lib/ on sys.path.

The one place that finds the firmware's modules for the tools and for verify/: `python -m tools.x` runs from the
repository root, which is on the path already, and every module under tools/ (or verify/, whose package imports this
one) is imported after this package, so `pump.*` resolves to lib/pump. No other module edits sys.path.
"""

import sys

# MicroPython finds lib/ through MICROPYPATH: this package is imported there only for tools.blehost.constants (the
# fake radio's numbers), and its os has no path module
if sys.implementation.name != "micropython":
    import os

    ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository (not resolved: see below)
    LIB = os.path.join(ROOT, "lib")
    # first, so an installed package named `pump` cannot stand in for the firmware; abspath, not realpath, so a copy
    # whose tools/ is a link (make mutants' staging folders) keeps its own lib/
    if LIB not in sys.path:
        sys.path.insert(0, LIB)

# third-party packages the tools import (requirements.txt, installed into .venv by `make install`): a Python without
# one gets one line saying which Python to use, never a traceback
THIRD_PARTY = ("matplotlib", "bleak", "bumble", "serial", "mpremote", "numpy", "dbus_fast", "usb", "hypothesis")
EXIT_INPUT = 2


def cli(main, tool):
    """`sys.exit(cli(main, "tools.x"))` in a tool's __main__: main's exit code; a third-party package missing from
    the running Python is one line and exit code 2 (a missing firmware module stays a bug, raised as it is)."""
    try:
        return main()
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in THIRD_PARTY:
            raise
        print("%s: needs the Python package %s, which %s lacks: run `.venv/bin/python -m %s ...` (`make install` "
              "sets up .venv)" % (tool, top, sys.executable, tool), file=sys.stderr)
        return EXIT_INPUT
