"""AES-128 ECB for the tests: `new_ecb`, the block cipher each interpreter tests the session with: cryptolib.aes(key,
1) where it exists (the unix port, as on the boards), the `cryptography` package on CPython, else the pure-Python
stand-in of the simulated board (board/sim/aes.py: the webassembly port has no cryptolib)."""

from board.sim.aes import PyAes128

__all__ = ["PyAes128", "new_ecb"]


def new_ecb(key):
    """The AES-128 ECB this interpreter tests with (module docstring)."""
    import sys

    try:
        import cryptolib
    except ImportError:
        cryptolib = None
    if cryptolib is not None:
        return cryptolib.aes(bytes(key), 1)
    if sys.implementation.name != "micropython":
        from tools.pumplink.session import new_ecb as host_ecb

        return host_ecb(key)
    return PyAes128(key)
