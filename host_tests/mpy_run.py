"""Runs the MicroPython set of host_tests on the MicroPython unix port (and unchanged on CPython): no pytest needed.

    micropython -X heapsize=2m host_tests/mpy_run.py [-v] [-k SUBSTRING] [test_module ...]

The set: every host_tests/<subject>/test_*.py with the line `RUNS_ON_MICROPYTHON = True` among its imports, before
its first definition (the file is read as text up to there, never imported to find out). A test module is named as
`test_x`, `subject.test_x`, `subject/test_x.py` or `host_tests/subject/test_x.py`. Imports each module of the set,
calls every `test_*` function (not classes) with no arguments and prints a traceback for each failure; -k keeps the
tests whose label `subject.test_x.test_name` contains SUBSTRING. A test raising `support.SkipTest` is counted as
skipped. The last line reads `micropython: N passed, N failed[, N skipped]`; the exit code is 1 on any failure, 5
when no test ran.
"""

import gc
import os
import sys

try:
    import micropython
except ImportError:  # CPython
    micropython = None

_IMPL = sys.implementation.name


def _dirname(path):
    i = path.rfind("/")
    if i < 0:
        return "."
    return path[:i] or "/"


def _setup_path():
    # host_tests/mpy_run.py -> repo root; put lib/ (pump.*), host_tests/ (support.*, the subject packages) and the root
    # (board.*, tools.*) first, whatever the working directory and MICROPYPATH are.
    here = _dirname(__file__)
    root = ".." if here == "." else _dirname(here)
    for path in (root, here, root + "/lib"):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    return here


def _unlock_heap():
    # A test that fails inside micropython.heap_lock() leaves the heap locked; unlock before anything allocates.
    # heap_unlock() returns the remaining depth (and must never be called at depth 0), heap_lock() returns nothing.
    if micropython is None or not hasattr(micropython, "heap_lock"):
        return
    micropython.heap_lock()
    depth = micropython.heap_unlock()
    while depth > 0:
        depth = micropython.heap_unlock()


def _print_exc(exc):
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc)  # MicroPython
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stdout)


def _parse_args(argv):
    verbose = False
    keyword = None
    modules = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-v":
            verbose = True
        elif arg == "-k":
            i += 1
            if i >= len(argv):
                raise SystemExit("-k needs a substring")
            keyword = argv[i]
        elif arg.startswith("-k") and len(arg) > 2:
            keyword = arg[2:]
        elif arg in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(0)
        else:
            # accept test_x, subject.test_x, subject/test_x.py or host_tests/subject/test_x.py: the module's name
            name = arg[:-3] if arg.endswith(".py") else arg
            name = name.replace("/", ".")
            modules.append(name[name.rfind(".") + 1 :])
        i += 1
    return verbose, keyword, modules


MARKER = "RUNS_ON_MICROPYTHON = True"


def _marked(path):
    # the marker stands with the imports, before the first definition: reading stops there, so finding the set
    # allocates a few lines per file (whole files would scatter the heap a 2 MB run needs in one piece)
    with open(path) as f:
        for line in f:
            if line.startswith(MARKER):
                return True
            if line.startswith("def ") or line.startswith("class ") or line.startswith("@"):
                return False
    return False


def _discover(here):
    """{test module: subject package} of the MicroPython set, from the files' text."""
    found = {}
    for subject in os.listdir(here):
        if subject in ("support", "wasm", "node_modules", "__pycache__") or subject.startswith("."):
            continue
        folder = here + "/" + subject
        try:
            entries = os.listdir(folder)
        except OSError:  # a file, not a folder
            continue
        for entry in entries:
            if entry.startswith("test_") and entry.endswith(".py") and _marked(folder + "/" + entry):
                found[entry[:-3]] = subject
    return found


class _Counts:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []


def _run_test(label, fn, skip_type, counts, verbose):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - every failure is reported and the run goes on
        _unlock_heap()
        if skip_type is not None and isinstance(exc, skip_type):
            counts.skipped += 1
            print("SKIP %s: %s" % (label, exc))
            return
        counts.failed += 1
        counts.failures.append(label)
        print("FAIL %s" % label)
        _print_exc(exc)
        return
    _unlock_heap()
    counts.passed += 1
    if verbose:
        print("PASS %s" % label)


def _run_module(subject, name, keyword, skip_type, counts, verbose):
    dotted = subject + "." + name
    try:
        package = __import__(dotted)
        module = getattr(package, name)
    except Exception as exc:  # noqa: BLE001 - an import error fails the module and the run goes on
        _unlock_heap()
        counts.failed += 1
        counts.failures.append(dotted)
        print("FAIL %s (import)" % dotted)
        _print_exc(exc)
        return
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        fn = getattr(module, attr)
        if not callable(fn):
            continue
        label = "%s.%s" % (dotted, attr)
        if keyword is not None and keyword not in label:
            continue
        _run_test(label, fn, skip_type, counts, verbose)
        gc.collect()
    # forget the module once its tests ran, so its tables are collected and a later module finds the heap as free as
    # an earlier one did (a 2 MB heap, like a board's, fragments otherwise)
    fn = module = None
    sys.modules.pop(dotted, None)
    if hasattr(package, name):
        delattr(package, name)


def main(argv):
    here = _setup_path()
    verbose, keyword, modules = _parse_args(argv)
    try:
        from support import SkipTest
    except ImportError:
        SkipTest = None
    available = _discover(here)
    gc.collect()
    if modules:
        for name in modules:
            if name not in available:
                print("not a test module of the MicroPython set: %s" % name)
                return 2
    else:
        modules = sorted(available, key=lambda n: available[n] + "." + n)  # by subject, then name
    counts = _Counts()
    for name in modules:
        _run_module(available[name], name, keyword, SkipTest, counts, verbose)
        gc.collect()
    for label in counts.failures:
        print("failed: %s" % label)
    line = "%s: %d passed, %d failed" % (_IMPL, counts.passed, counts.failed)
    if counts.skipped:
        line += ", %d skipped" % counts.skipped
    ran = counts.passed + counts.failed + counts.skipped
    if ran == 0:
        print("no test ran")
    print(line)
    if counts.failed:
        return 1
    return 0 if ran else 5


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
