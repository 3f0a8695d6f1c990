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
