"""The deployed pump on the emulated Pico as a bench engineer meets it: the board's wiring outside the chip (the EN
pull-up, a battery on its divider), its pins watched from the first instruction, and the programmer's wired link
(tools/programmer through tools/pumplink/serial.py) on the USB console. Everything a test judges comes from outside
the firmware: pin edges, the console, the flash."""

import json
import os
import tempfile

from tools.programmer import programmer
from tools.pumplink.serial import SerialLink
from verify.emu import firmware
from verify.emu.console import EmuPort

# board/pico_w.py DEFAULT_PINS (the plain Pico's "LED" is GPIO25), and the optional roles' suggested pins
STEP, DIR, EN, DIAG, ENCODER, BUTTON, BUZZER, LED = 2, 3, 4, 5, 8, 9, 15, 25
BATTERY_ADC, PRESSURE_ADC = 0, 1  # GP26, GP27
PRESSURE_PIN = 27
FORWARD = 1  # dir_forward
MAX_STEPS_PER_S = 500
VREF_MV = 3300


def adc_code(mv):
    return round(mv * 4095 / VREF_MV)


def steps_expected(nl_per_day, nl_per_step, ms):
    """Whole steps a constant rate owes over `ms` (the dose plan's count over any stretch is this or one more)."""
    return nl_per_day * ms // (86400000 * nl_per_step)


class PumpRig:
    """`start(files)` is the suite's boot fixture (an Emulator, closed after the test)."""

    def __init__(self, start, hw=None, pump=None, hook=None, battery_mv=3900):
        self.hw = dict(hw or {})
        self.pump = dict(pump or {})
        self.emu = emu = start(firmware.files(self.hw, self.pump, hook))
        emu.set_pin(EN, 1)  # the 10 kOhm pull-up of docs/boards.md: EN high while nothing drives it
        emu.set_adc(BATTERY_ADC, adc_code(battery_mv // 2))  # the 100 k / 100 k divider
        self.levels = emu.watch([STEP, DIR, EN, BUZZER, LED])  # before the first instruction
        self._tmp = tempfile.TemporaryDirectory(prefix="emu-programmer-")
        self.config = os.path.join(self._tmp.name, "config.json")
        with open(self.config, "wb") as f:
            f.write(firmware.config_json(self.hw, self.pump))
        self.said = []
        self.link = None

    def started(self, within_ms=5000):
        """Console up to the app's first line (`pump 0.1.0 on pico_w: ...`); the boot's emulated ms."""
        out = self.emu.expect(b"pump 0.1.0 on pico_w", within_ms)
        self.emu.expect(b"\n", 100)
        return out

    # ---- the programmer, on the wired path ----
    def _link(self, args, say):
        port = EmuPort(self.emu)
        self.link = SerialLink(port, firmware.CLINICIAN_KEY, clock=port.clock, name="emulated USB console")
        return self.link

    def programmer(self, *argv):
        """`python -m tools.programmer ARGV --port <the emulated console>`: (exit code, its last line)."""
        argv = ["--config", self.config] + list(argv)
        if argv[2] != "check":
            argv += ["--port", "emulated"]
        code = programmer.main(argv, say=self.said.append, link_factory=self._link)
        return code, self.said[-1] if self.said else ""

    def send(self, prescription, *extra):
        """Program the pump; the bench's rates (up to 150 mL/day) need the battery's 90 days confirmed."""
        path = os.path.join(self._tmp.name, "rx.json")
        with open(path, "w") as f:
            json.dump(prescription, f)
        return self.programmer("send", path, "--confirm-battery", *extra)

    def status(self):
        code, line = self.programmer("status")
        assert code == 0, line
        return json.loads(self.said[-1].split("status: ", 1)[1])

    def close(self):
        self._tmp.cleanup()

    # ---- what the pins did ----
    def edges(self, clear=False):
        return self.emu.edges([STEP, DIR, EN, BUZZER, LED], clear=clear)
