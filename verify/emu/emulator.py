"""One emulated Pico running stock MicroPython: the Node runner (verify/emu/runner.mjs) driven over JSON lines.

Emulated time is what counts (ms here, ns in the runner's answers); idle time is skipped, so a sleeping firmware
runs many times faster than real time. The console is the USB CDC REPL; `exec` runs code through the raw REPL.
Pins, ADC inputs and the flash are the outside world: they survive resets, as on a board.
"""

import json
import math
import os
import queue
import subprocess
import tempfile
import threading
import time

from verify.emu import images, lfs

FLASH_BYTES = 2 * 1024 * 1024
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
_STDERR_KEEP = 20


class EmulatorError(Exception):
    """The runner refused a request, faulted, or stopped answering (the message is one line)."""


class EmulatorTimeout(EmulatorError):
    """Something awaited did not happen within the emulated time allowed."""


class RunResult:
    """Why a run stopped ('time', 'pattern', 'power_cut') and what it cost."""

    def __init__(self, reason, emulated_ms, wall_s, instructions, idle_ms):
        self.reason = reason
        self.emulated_ms = emulated_ms
        self.wall_s = wall_s
        self.instructions = instructions
        self.idle_ms = idle_ms

    def __repr__(self):
        return "RunResult(%s, %.3f emulated ms, %.3f wall s, %d instructions, %.3f idle ms)" % (
            self.reason, self.emulated_ms, self.wall_s, self.instructions, self.idle_ms)


class PinEdges:
    """Level changes of one watched pin: (t_ns, level) in emulated time, with counts."""

    def __init__(self, level, rising, falling, edges):
        self.level = level
        self.rising = rising
        self.falling = falling
        self.edges = [(t, lv) for t, lv in edges]

    def times_ns(self, level=None):
        return [t for t, lv in self.edges if level is None or lv == level]


def _latin1(data):
    return data.decode("latin-1") if isinstance(data, (bytes, bytearray)) else data


def _ms_to_ns(t_ms, key):
    if not isinstance(t_ms, (int, float)) or not math.isfinite(t_ms) or t_ms < 0:
        raise ValueError("%s: must be a number of emulated ms >= 0, got %r" % (key, t_ms))
    return round(t_ms * 1e6)


class Emulator:
    """Boot `files` ({path: bytes} in the littlefs image; None: a blank filesystem the firmware formats)."""

    def __init__(self, files=None, *, image=None, flash_timing=None, wall_limit_s=300.0):
        self.images = image or images.find_images()
        node = images.find_node()
        fs_image = None if files is None else lfs.build_image(files)  # bad files refused before anything starts
        self._tmp = tempfile.TemporaryDirectory(prefix="pump-emu-")
        self.console = bytearray()
        self._cursor = 0
        self.resets = []
        self.power_cuts = []
        self.t_ns = 0
        self.wall_limit_s = wall_limit_s
        self.run_wall_s = 0.0
        self.started = time.monotonic()
        self.final_stats = None
        self._stderr = []
        self._lines = queue.Queue()
        self._proc = subprocess.Popen([node, images.RUNNER], cwd=images.ROOT, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._pump, args=(self._proc.stdout, self._lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self._proc.stderr, self._keep_stderr), daemon=True).start()
        boot = {"cmd": "boot", "uf2": self.images.uf2, "bootrom": self.images.bootrom}
        if fs_image is not None:
            path = os.path.join(self._tmp.name, "fs.img")
            with open(path, "wb") as f:
                f.write(fs_image)
            boot.update(fs=path, fs_offset=lfs.FS_OFFSET)
        boot.update(flash_timing or {})
        try:
            self.boot_info = self._call(boot)
        except BaseException:
            self.close()
            raise

    # --- plumbing -------------------------------------------------------------------------------------------------
    @staticmethod
    def _pump(stream, sink):
        for line in iter(stream.readline, b""):
            sink(line)
        sink(None)

    def _keep_stderr(self, line):
        if line is not None:
            self._stderr = ([*self._stderr, line.decode("utf-8", "replace").rstrip()])[-_STDERR_KEEP:]

    def _call(self, request, wall_s=60.0):
        if self._proc.poll() is not None:
            raise EmulatorError("runner exited with code %s: %s" % (self._proc.returncode, " | ".join(self._stderr)))
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            self._proc.stdin.flush()
            line = self._lines.get(timeout=wall_s)
        except OSError as err:
            line = None
            self._stderr.append(str(err))
        except queue.Empty:
            self._proc.kill()  # its answer may still come: the exchange is out of step for good
            raise EmulatorError("%s: no answer from the runner within %.0f wall s" % (request["cmd"], wall_s))
        if line is None:
            self._proc.wait(5)
            raise EmulatorError("runner exited with code %s during %s: %s" % (
                self._proc.returncode, request["cmd"], " | ".join(self._stderr)))
        answer = json.loads(line)
        if not answer["ok"]:
            raise EmulatorError(answer["error"])
        if "t_ns" in answer:
            self.t_ns = answer["t_ns"]
            self.console += answer["console"].encode("latin-1")
            for event in answer["events"]:
                (self.resets if event["type"] == "reset" else self.power_cuts).append(event)
        return answer

    def close(self):
        """Stop the runner (its last figures stay in `final_stats`); closing twice does nothing."""
        if self.final_stats is not None:
            return
        try:
            self.final_stats = self.stats()
        except EmulatorError:
            self.final_stats = {"t_ns": self.t_ns, "instructions": 0, "idle_ns": 0}
        if self._proc.poll() is None:
            try:
                self._call({"cmd": "quit"}, wall_s=10)
            except (EmulatorError, OSError):
                pass
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            stream.close()
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- time and console -----------------------------------------------------------------------------------------
    @property
    def now_ms(self):
        return self.t_ns / 1e6

    def run(self, ms, until=None, _carry=b""):
        """Run `ms` emulated ms, or until `until` (bytes) appears in new console output, or a power cut."""
        _ms_to_ns(ms, "ms")
        wall_left = self.wall_limit_s - self.run_wall_s
        if wall_left <= 0:
            raise EmulatorError("run: this emulator's wall-clock budget of %.0f s is spent" % self.wall_limit_s)
        request = {"cmd": "run", "ms": ms, "wall_ms": wall_left * 1000}
        if until:
            request.update(until=_latin1(until), carry=_latin1(_carry))
        answer = self._call(request, wall_s=wall_left + 30)
        run = answer["run"]
        self.run_wall_s += run["wall_ms"] / 1000
        if answer["reason"] == "fault":
            raise EmulatorError("run: the emulated chip stopped at %.3f ms: %s" % (self.now_ms, answer["fault"]))
        if answer["reason"] == "wall_limit":
            raise EmulatorError("run: wall-clock budget of %.0f s spent at emulated %.3f ms" % (
                self.wall_limit_s, self.now_ms))
        return RunResult(answer["reason"], run["emulated_ns"] / 1e6, run["wall_ms"] / 1000, run["instructions"],
                         run["idle_ns"] / 1e6)

    def expect(self, pattern, within_ms=1000):
        """Console bytes up to and including the next `pattern` not yet consumed; EmulatorTimeout if it stays away."""
        if isinstance(pattern, str):
            pattern = pattern.encode()
        found = self.console.find(pattern, self._cursor)
        if found < 0:
            carry = bytes(self.console[max(self._cursor, len(self.console) - len(pattern) + 1):])
            result = self.run(within_ms, until=pattern, _carry=carry)
            found = self.console.find(pattern, self._cursor)
            if found < 0:
                tail = bytes(self.console[-200:])
                raise EmulatorTimeout("expect: %r not on the console within %s emulated ms (stopped by %s); "
                                      "console ends %r" % (pattern, within_ms, result.reason, tail))
        start, self._cursor = self._cursor, found + len(pattern)
        return bytes(self.console[start:self._cursor])

    def write(self, data):
        """Bytes to the USB CDC console (held until the firmware reads them)."""
        self._call({"cmd": "write", "data": _latin1(data)})

    def exec_raw(self, code, within_ms=2000):
        """Run `code` through the raw REPL (Ctrl-A, code, Ctrl-D): (stdout, stderr) as text."""
        self._cursor = len(self.console)
        self.write(b"\r\x03\x03\x01")
        self.expect(_RAW_BANNER, within_ms)
        self.write(code.encode() + b"\x04")
        self.expect(b"OK", within_ms)
        out = self.expect(b"\x04", within_ms)[:-1]
        err = self.expect(b"\x04", within_ms)[:-1]
        self.expect(b">", within_ms)
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def exec(self, code, within_ms=2000):
        """stdout of `code` run through the raw REPL; EmulatorError carrying the traceback if it raised."""
        out, err = self.exec_raw(code, within_ms)
        if err:
            raise EmulatorError("exec: the firmware raised: %s" % err.strip().splitlines()[-1])
        return out

    # --- pins and analog inputs -----------------------------------------------------------------------------------
    def set_adc(self, channel, value_12bit):
        """ADC input `channel` (0-3: GPIO26-29, 4: temperature sensor) reads `value_12bit` from now on."""
        self._call({"cmd": "adc", "channel": channel, "value": value_12bit})

    def drive_adc(self, channel, changes_ms):
        """ADC input `channel` reads each 12-bit value from each emulated time on: [(t_ms, value), ...]."""
        changes = [[_ms_to_ns(t, "changes: t_ms"), value] for t, value in changes_ms]
        self._call({"cmd": "drive_adc", "channel": channel, "changes": changes})

    def set_pin(self, pin, level):
        """Drive GPIO `pin` from outside at `level` (0/1; None releases it), now."""
        return self._call({"cmd": "pin", "pin": pin, "level": level})["state"]

    def drive(self, pin, changes_ms):
        """Drive GPIO `pin` to each level at each emulated time: [(t_ms, level), ...], ascending, not in the past."""
        changes = [[_ms_to_ns(t, "changes: t_ms"), level] for t, level in changes_ms]
        self._call({"cmd": "drive", "pin": pin, "changes": changes})

    def pulse_train(self, pin, start_ms, count, period_ms, high_ms):
        """`count` high pulses of `high_ms` every `period_ms` from `start_ms` (emulated) on GPIO `pin`."""
        if not (0 < high_ms < period_ms):
            raise ValueError("pulse_train: high_ms must lie between 0 and period_ms (%r), got %r" % (
                period_ms, high_ms))
        changes = []
        for i in range(count):
            t = start_ms + i * period_ms
            changes += [(t, 1), (t + high_ms, 0)]
        self.drive(pin, changes)

    def follow(self, pin, source, every=1, delay_ms=0.0, high_ms=0.05):
        """An encoder on GPIO `pin`: a `high_ms` pulse `delay_ms` after every `every`-th rising edge of `source`
        (the STEP pin), until follow(pin, None) stops it (a stalled motor)."""
        request = {"cmd": "follow", "pin": pin, "source": source}
        if source is not None:
            request.update(every=every, delay_ns=_ms_to_ns(delay_ms, "delay_ms"), high_ns=_ms_to_ns(high_ms, "high_ms"))
        self._call(request)

    def hydraulics(self, channel, step, dir, forward=1, **plant):
        """The pressure plant on ADC `channel` (verify/emu/hydraulics.mjs): STEP `step` edges with DIR `dir` at
        `forward` push the pressure up, reverse ones take it down, an open line drains it; `plant` overrides
        csf_kpa, j_kpa, tau_ms, mv_at_0, mv_per_kpa, noise_kpa, seed, vref_mv."""
        self._call(dict(cmd="hydraulics", channel=channel, step=step, dir=dir, forward=forward, **plant))

    def occlude(self, occluded=True):
        """Block (or clear) the catheter from now on; the plant's held pressure and step counts."""
        return self._call({"cmd": "occlude", "occluded": occluded})

    def watch(self, pins):
        """Record every level change of these GPIOs from now on; their current levels."""
        levels = self._call({"cmd": "watch", "pins": list(pins)})["levels"]
        return {int(p): lv for p, lv in levels.items()}

    def edges(self, pins, clear=False):
        """{pin: PinEdges} for watched pins; `clear` empties their records."""
        reply = self._call({"cmd": "edges", "pins": list(pins), "clear": clear})["pins"]
        return {int(p): PinEdges(r["level"], r["rising"], r["falling"], r["edges"]) for p, r in reply.items()}

    def pin_state(self, pin):
        return self._call({"cmd": "pin_state", "pin": pin})["state"]

    # --- serial ---------------------------------------------------------------------------------------------------
    def uart_write(self, uart, data):
        self._call({"cmd": "uart_write", "uart": uart, "data": _latin1(data)})

    def uart_read(self, uart):
        return self._call({"cmd": "uart_read", "uart": uart})["data"].encode("latin-1")

    # --- flash ----------------------------------------------------------------------------------------------------
    def flash_ops(self, clear=False, log=False):
        """Counts of flash erase / program operations (and bytes) since boot or the last clear."""
        return self._call({"cmd": "flash_ops", "clear": clear, "log": log})

    def cut_power(self, after_ops, partial_bytes=0):
        """Cut the power during the `after_ops`-th flash operation from now: only its first `partial_bytes` land.

        The run then stops with reason 'power_cut'; the next run powers the board on with the flash as it was."""
        self._call({"cmd": "cut_power", "after_ops": after_ops, "partial_bytes": partial_bytes})

    def flash(self):
        """The whole 2 MB flash as the firmware would read it now."""
        path = os.path.join(self._tmp.name, "flash.bin")
        self._call({"cmd": "dump_flash", "path": path, "offset": 0, "size": FLASH_BYTES})
        with open(path, "rb") as f:
            return f.read()

    def power_on_with(self, flash):
        """Power the board on with this whole flash (a snapshot from `flash()`): a new experiment, same process."""
        if len(flash) != FLASH_BYTES:
            raise ValueError("flash: must be the whole %d-byte flash, got %d bytes" % (FLASH_BYTES, len(flash)))
        path = os.path.join(self._tmp.name, "load.bin")
        with open(path, "wb") as f:
            f.write(flash)
        self._call({"cmd": "load_flash", "path": path})
        self._cursor = len(self.console)

    def files(self):
        """{path: bytes} of the littlefs filesystem in flash, read on the host; lfs.FsError if it does not mount."""
        return lfs.read_files(self.flash())

    # --- resets and figures ---------------------------------------------------------------------------------------
    def reset(self):
        """Power-on reset (power cycled, RUN pin): RAM and registers cleared, flash and the pins' world kept."""
        self._call({"cmd": "reset"})
        self._cursor = len(self.console)

    @property
    def reset_cause(self):
        """Cause of the last reset as the emulator saw it: 'power_on', 'watchdog' or 'watchdog_force'."""
        return self.resets[-1]["cause"]

    def stats(self):
        """Emulated time, instruction / cycle counts, idle time skipped, resets, emulator messages."""
        out = self._call({"cmd": "stats"})
        out["wall_s_running"] = self.run_wall_s
        out["wall_s_alive"] = time.monotonic() - self.started
        return out
