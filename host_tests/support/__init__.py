"""The tests' rigs and fakes (one module each); here the helpers every test may use, the same under pytest on CPython
and under host_tests/mpy_run.py on both MicroPython ports: `raises`, `SkipTest`, `small_int_limit`, `ROOT`."""


def _repo_root():
    here = __file__  # <root>/host_tests/support/__init__.py (relative on the unix port when the path is)
    for _ in range(3):
        here = here[: here.rfind("/")] if "/" in here else "."
    return here


ROOT = _repo_root()  # the repository's root


class _Raised:
    def __init__(self, exc_type):
        self.exc_type = exc_type
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("expected %s, nothing was raised" % self.exc_type.__name__)
        if not issubclass(exc_type, self.exc_type):
            return False  # let the unexpected exception propagate
        self.value = exc
        return True


def raises(exc_type):
    """Context manager: the block must raise exc_type; the exception is kept in `.value`."""
    return _Raised(exc_type)


try:
    from unittest import SkipTest as _SkipBase  # CPython: pytest reports unittest.SkipTest as a skip
except ImportError:  # MicroPython: host_tests/mpy_run.py counts it as a skip
    _SkipBase = Exception


class SkipTest(_SkipBase):
    """Raise from a test when the interpreter lacks a capability it needs; the reason is printed."""


def small_int_limit():
    """First integer this interpreter boxes (allocates): 2**30 on 32-bit MicroPython ports like the boards, 2**62 on
    the 64-bit unix port, None on CPython (every int is an object there)."""
    import sys

    if sys.implementation.name != "micropython":
        return None
    return 1 << 30 if sys.maxsize < 1 << 32 else 1 << 62
