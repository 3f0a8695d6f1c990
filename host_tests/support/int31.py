"""Int31: an int whose arithmetic stays Int31 and fails the moment a result would not be a small int on the boards.

On RP2040 and ESP32 a MicroPython int with |x| >= 2**30 is no longer a small int: every operation producing one
allocates on the heap (and the 64-bit unix port never shows it). Hot-path state converted to Int31 makes every
+ - * // % & | ^ << >> neg abs divmod on it return an Int31, checked against |x| < 2**30; a result (or a plain-int
operand, such as a constant) outside raises Int31Overflow. Code that is allowed big ints (cold path) runs inside
`unchecked()`; convert its results back with `to31`/`convert`, which check the range again.
"""

LIMIT = 1 << 30

_depth = [0]  # > 0 inside unchecked()


class Int31Overflow(AssertionError):
    """A hot-path result left the boards' small-int range."""


class Int31(int):
    """int with checked arithmetic (see the module docstring)."""

    def __repr__(self):
        return "Int31(%d)" % int(self)

    __str__ = __repr__


def _wrap(value, a, op, b):
    if not isinstance(value, int):
        return value  # NotImplemented, or a float from mixing with one
    if not _depth[0]:
        if not -LIMIT < value < LIMIT:
            raise Int31Overflow("%r %s %r = %d is not a small int (|x| < 2**30)" % (a, op, b, value))
        for x in (a, b):  # a plain-int operand (a constant, say) must be a small int too
            if isinstance(x, int) and not -LIMIT < x < LIMIT:
                raise Int31Overflow("%r %s %r: operand %d is not a small int (|x| < 2**30)" % (a, op, b, x))
    return Int31(value)


def _binary(name):
    op = getattr(int, "__%s__" % name)
    rop = getattr(int, "__r%s__" % name)

    def forward(self, other):
        return _wrap(op(int(self), other), self, name, other)

    def reflected(self, other):
        return _wrap(rop(int(self), other), other, name, self)

    forward.__name__ = "__%s__" % name
    reflected.__name__ = "__r%s__" % name
    return forward, reflected


for _name in ("add", "sub", "mul", "floordiv", "mod", "and", "or", "xor", "lshift", "rshift", "pow"):
    _f, _r = _binary(_name)
    setattr(Int31, "__%s__" % _name, _f)
    setattr(Int31, "__r%s__" % _name, _r)


def _neg(self):
    return _wrap(-int(self), 0, "sub", self)


def _pos(self):
    return self


def _abs(self):
    return _wrap(abs(int(self)), "abs", "of", self)


def _divmod(self, other):
    q, r = divmod(int(self), other)
    return _wrap(q, self, "divmod", other), _wrap(r, self, "divmod", other)


def _rdivmod(self, other):
    q, r = divmod(other, int(self))
    return _wrap(q, other, "divmod", self), _wrap(r, other, "divmod", self)


Int31.__neg__ = _neg
Int31.__pos__ = _pos
Int31.__abs__ = _abs
Int31.__divmod__ = _divmod
Int31.__rdivmod__ = _rdivmod


class unchecked:
    """Context manager: arithmetic inside may leave the small-int range (cold path)."""

    def __enter__(self):
        _depth[0] += 1
        return self

    def __exit__(self, *exc):
        _depth[0] -= 1
        return False


def to31(value, what="value"):
    """`value` as an Int31 (None and non-ints pass through), range-checked even inside unchecked()."""
    if value is None or type(value) is bool or not isinstance(value, int):
        return value
    if not -LIMIT < value < LIMIT:
        raise Int31Overflow("%s = %d is not a small int (|x| < 2**30)" % (what, value))
    return Int31(value)


def convert(obj, *names):
    """Replace the int attributes `names` of obj by Int31 (range-checked)."""
    for name in names:
        setattr(obj, name, to31(getattr(obj, name), "%s.%s" % (type(obj).__name__, name)))
    return obj


def cold(obj, name, after=None):
    """Wrap method `name` of obj so it runs unchecked (cold path), then call after() to convert its results back."""
    method = getattr(obj, name)

    def wrapper(*args, **kwargs):
        with unchecked():
            result = method(*args, **kwargs)
        if after is not None:
            after()
        return result

    setattr(obj, name, wrapper)
    return wrapper
