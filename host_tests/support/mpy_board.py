"""A MicroPython board for mpremote without hardware: its raw REPL on a pseudo-terminal, code run by the unix port.

mpremote connects to the pty's /dev/pts/N (as to QEMU) and speaks the raw REPL protocol as to a board: Ctrl-A enters
the raw REPL, Ctrl-D on an empty line soft-resets, code ended by Ctrl-D is answered "OK", its output, Ctrl-D, its
error, Ctrl-D, ">"; raw-paste mode (flow-controlled, which mpremote prefers) too. The code runs in a MicroPython
unix-port process whose working folder is `root`, the board's filesystem (mpremote's fs commands, `exec`, the
firmware's own modules). A small `machine` module records pin and register writes, watchdogs and resets in
`events`. CPython only.
"""

import os
import select
import subprocess
import tempfile
import threading
import tty

_AGENT = r"""
import sys, io
sys.path[:] = ['', 'lib', %(fakes)r]
g = {'__name__': '__main__'}
out = sys.stdout
while True:
    line = sys.stdin.readline()
    if not line:
        break
    code = sys.stdin.buffer.read(int(line)).decode()
    err = ''
    try:
        exec(code, g)
    except BaseException as e:
        buf = io.StringIO()
        sys.print_exception(e, buf)
        err = buf.getvalue()
    out.write('\x04' + err + '\x04')
"""

_MACHINE = r"""
import os
def _log(text):
    with open(os.getenv('FAKE_BOARD_EVENTS'), 'a') as f:
        f.write(text + '\n')
class Pin:
    OUT = 1
    IN = 0
    def __init__(self, pin_id, mode=-1, value=None):
        _log('pin %r %r' % (pin_id, value))
class _Mem32:
    # registers read back what was written; the RP2040 WATCHDOG_CTRL starts enabled with a timer value
    def __init__(self):
        self.regs = {0x40058000: 0x40000123}
    def __getitem__(self, addr):
        return self.regs.get(addr, 0)
    def __setitem__(self, addr, value):
        self.regs[addr] = value
        _log('mem32 0x%08x 0x%08x' % (addr, value))
mem32 = _Mem32()
class WDT:
    def __init__(self, id=0, timeout=5000):
        _log('wdt %d' % timeout)
    def feed(self):
        pass
def reset():
    _log('reset')
def soft_reset():
    _log('soft_reset')
"""

_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
_WINDOW = 4096  # raw-paste flow-control window (bytes)


class FakeBoard:
    """A board at `url` (a /dev/pts path) until close(); `root` is the board's filesystem."""

    def __init__(self, root, micropython):
        self.root = str(root)
        self.micropython = os.path.abspath(micropython)
        self._tmp = tempfile.TemporaryDirectory(prefix="fakeboard-")
        with open(os.path.join(self._tmp.name, "machine.py"), "w") as f:
            f.write(_MACHINE)
        self._agent_path = os.path.join(self._tmp.name, "agent.py")
        with open(self._agent_path, "w") as f:
            f.write(_AGENT % {"fakes": self._tmp.name})
        self._events_path = os.path.join(self._tmp.name, "events.txt")
        open(self._events_path, "w").close()
        self.soft_resets = 0
        self.execs = []  # code of every exec, in order
        self._proc = None
        # the board keeps its end open, so the pty outlives each mpremote connection (as a USB serial port does)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.url = os.ttyname(self._slave)
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def events(self):
        with open(self._events_path) as f:
            return f.read().splitlines()

    def close(self):
        self._closed = True
        self._thread.join(5)
        os.close(self._master)
        os.close(self._slave)
        self._stop_agent()
        self._tmp.cleanup()

    # ---- the interpreter ----
    def _start_agent(self):
        self._stop_agent()
        env = dict(os.environ, FAKE_BOARD_EVENTS=self._events_path, MICROPYPATH="")
        self._proc = subprocess.Popen([self.micropython, "-X", "heapsize=2m", self._agent_path], cwd=self.root,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0)

    def _stop_agent(self):
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.wait(10)
            self._proc.stdout.close()
            self._proc = None

    def _run(self, code, send):
        if self._proc is None:
            self._start_agent()
        self.execs.append(code.decode())
        self._proc.stdin.write(b"%d\n" % len(code) + code)
        marks = 0
        while marks < 2:
            data = self._proc.stdout.read1(4096) if hasattr(self._proc.stdout, "read1") else os.read(
                self._proc.stdout.fileno(), 4096)
            if not data:
                raise RuntimeError("fake board: the interpreter stopped")
            marks += data.count(b"\x04")
            send(data)

    # ---- the raw REPL ----
    def _serve(self):
        try:
            self._session(_Reader(self._master, lambda: self._closed), self._send)
        except (OSError, RuntimeError):  # closed
            pass

    def _send(self, data):
        os.write(self._master, data)

    def _session(self, reader, send):
        raw = False
        line = bytearray()
        while True:
            c = reader.byte()
            if not raw:
                if c == b"\x01":
                    raw, line = True, bytearray()
                    send(b"\r\n" + _BANNER)
                continue
            if c == b"\x01":
                line = bytearray()
                send(b"\r\n" + _BANNER)
            elif c == b"\x02":
                raw = False
                send(b"\r\nMicroPython (fake board)\r\n>>> ")
            elif c == b"\x03":
                line = bytearray()
            elif c == b"\x05" and not line:  # raw-paste mode: "\x05A\x01", then flow-controlled code up to Ctrl-D
                reader.take(2)
                send(b"R\x01" + _WINDOW.to_bytes(2, "little"))
                code = bytearray()
                while True:
                    c = reader.byte()
                    if c == b"\x04":
                        break
                    code += c
                    if len(code) % _WINDOW == 0:
                        send(b"\x01")
                send(b"\x04")
                self._run(bytes(code), send)
                send(b">")
            elif c == b"\x04":
                if not line:
                    self.soft_resets += 1
                    self._start_agent()
                    send(b"OK\r\nMPY: soft reboot\r\n" + _BANNER)
                else:
                    send(b"OK")
                    self._run(bytes(line), send)
                    send(b">")
                    line = bytearray()
            else:
                line += c


class _Reader:
    """Bytes from the pty one at a time (buffered); OSError once `closed()` is true."""

    def __init__(self, fd, closed):
        self.fd = fd
        self.closed = closed
        self.buf = b""
        self.i = 0

    def byte(self):
        while self.i >= len(self.buf):
            if self.closed():
                raise OSError("closed")
            if select.select([self.fd], [], [], 0.05)[0]:
                self.buf = os.read(self.fd, 65536)
                self.i = 0
        self.i += 1
        return self.buf[self.i - 1:self.i]

    def take(self, n):
        return b"".join(self.byte() for _ in range(n))
