"""The emulated Pico's USB console as a serial port for the programmer's wired link (tools/pumplink/serial.py): the same
tool and the same path as a bench pump on /dev/ttyACM0, in emulated time."""

from verify.emu.emulator import EmulatorTimeout


class EmuPort:
    """`write(data)` to the console; `readline()` runs the chip until a line ends, at most `timeout_ms` emulated ms
    (b"" then, as pyserial gives after its timeout); `clock()` is emulated seconds."""

    def __init__(self, emu, timeout_ms=500):
        self.emu = emu
        self.timeout_ms = timeout_ms

    def write(self, data):
        self.emu.write(data)

    def readline(self):
        try:
            return self.emu.expect(b"\n", within_ms=self.timeout_ms)
        except EmulatorTimeout:
            return b""

    def clock(self):
        return self.emu.now_ms / 1000

    def close(self):
        pass
