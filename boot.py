"""Power-up safety: motor driver off (EN high) before anything else runs, and room for exceptions raised in IRQs."""

import sys

try:
    import machine
except ImportError:  # CPython: nothing to drive
    machine = None

# Last resort if the board module cannot be imported: must equal each board's DEFAULT_PINS["en"] (a test checks).
_EN_FALLBACK = {"rp2": 4, "esp32": 23}

if machine is not None and sys.platform in _EN_FALLBACK:
    try:
        if sys.platform == "rp2":
            from board.pico_w import DEFAULT_PINS
        else:
            from board.esp32_devkit import DEFAULT_PINS
        _en = DEFAULT_PINS["en"]
    except Exception:  # noqa: BLE001 - whatever failed, the board's default EN pin goes high
        _en = _EN_FALLBACK[sys.platform]
    machine.Pin(_en, machine.Pin.OUT, value=1)

try:
    import micropython

    micropython.alloc_emergency_exception_buf(100)
except (ImportError, AttributeError):  # CPython, or a port without it (unix)
    pass
