"""The board modules on CPython: fake `machine` and `rp2` modules (pins, ADC, RTC, WDT, PWM on a virtual microsecond
clock that logs every pin write) and a PIO assembler and emulator, injected into a board module by `board_rig`."""

import collections
import importlib
import sys
import types

from board.sim import radio as fake_bluetooth


class Bench:
    """Virtual time (µs) and an ordered log of (t_us, pin, level) for every pin write, PIO edges included."""

    def __init__(self):
        self.t_us = 0
        self.log = []
        self.adc_mv = {}  # pin -> list of readings in mV, consumed in order, last one repeats

    def sleep_us(self, us):
        self.t_us += us

    def sleep_ms(self, ms):
        self.t_us += ms * 1000

    def ticks_ms(self):
        return (self.t_us // 1000) & 0x3FFFFFFF

    def adc(self, pin):
        values = self.adc_mv[pin]
        return values.pop(0) if len(values) > 1 else values[0]

    def writes(self, pin):
        return [(t, v) for t, p, v in self.log if p == pin]


def make_machine(bench, port):
    """A fake `machine` module for port "rp2" or "esp32" (reset_cause constants as those ports define them)."""
    m = types.ModuleType("machine")

    class Pin:
        OUT = 1

        def __init__(self, pin_id, mode=-1, value=None):
            self.id = pin_id
            self.level = None
            if value is not None:
                self.value(value)

        def value(self, v=None):
            if v is None:
                return self.level
            self.level = v
            bench.log.append((bench.t_us, self.id, v))

    class ADC:
        ATTN_11DB = 3

        def __init__(self, pin, atten=None):
            self.pin = pin.id
            self.atten = atten

        def read_u16(self):  # rp2: 0..65535 over 0..3300 mV
            return (bench.adc(self.pin) * 65535 + 3299) // 3300

        def read_uv(self):  # esp32
            return bench.adc(self.pin) * 1000

    class RTC:
        t = (2000, 1, 1, 5, 0, 0, 0, 0)

        def datetime(self, t=None):
            if t is None:
                return RTC.t
            RTC.t = t

    class WDT:
        made = []

        def __init__(self, timeout):
            self.timeout = timeout
            self.feeds = 0
            WDT.made.append(self)

        def feed(self):
            self.feeds += 1

    class PWM:
        made = []

        def __init__(self, pin, freq=0, duty_u16=0):
            self.pin = pin.id
            self.hz = freq
            PWM.made.append(self)
            self.duty_u16(duty_u16)

        def freq(self, hz):
            self.hz = hz

        def duty_u16(self, duty):
            bench.log.append((bench.t_us, ("pwm", self.pin), duty))

    m.Pin, m.ADC, m.RTC, m.WDT, m.PWM = Pin, ADC, RTC, WDT, PWM
    m.PWRON_RESET, m.WDT_RESET = 1, 3
    if port == "esp32":
        m.HARD_RESET, m.DEEPSLEEP_RESET, m.SOFT_RESET = 2, 4, 5
    m.cause = 1
    m.reset_cause = lambda: m.cause
    m.resets = []
    m.reset = lambda: m.resets.append(1)
    m.mem32 = collections.defaultdict(int)  # registers read 0 after power-on
    m.unique_id = lambda: b"\xde\xad\xbe\xef\x00\x01\x02\x03"
    return m


# PIO assembler + emulator: the program is assembled the way rp2.asm_pio does it (the function runs with its module's
# globals replaced by the assembler's names) and run instruction by instruction, counting cycles.
_PINS, _X, _Y, _NULL, _ISR, _OSR = 0, 1, 2, 3, 6, 7
_NOT_X, _X_DEC = 1, 2


class _Instr:
    def __init__(self, op, args):
        self.op, self.args, self.delay = op, args, 0

    def __getitem__(self, delay):
        assert 0 <= delay <= 31
        self.delay = delay
        return self


def make_rp2():
    rp2 = types.ModuleType("rp2")
    rp2.PIO = types.SimpleNamespace(OUT_LOW=2)

    def asm_pio(**kw):
        def assemble(f):
            code, labels = [], {}

            def emit(op):
                return lambda *args: code.append(_Instr(op, args)) or code[-1]

            names = {k: emit(k) for k in ("pull", "push", "mov", "jmp", "set", "nop")}
            names["label"] = lambda name: labels.__setitem__(name, len(code))
            names.update(pins=_PINS, x=_X, y=_Y, null=_NULL, isr=_ISR, osr=_OSR, x_dec=_X_DEC, not_x=_NOT_X)
            names.update(block=0x21, noblock=0x01)
            gl = f.__globals__
            saved = dict(gl)
            gl.clear()
            gl.update(names)
            try:
                f()
            finally:
                gl.clear()
                gl.update(saved)
            return types.SimpleNamespace(code=code, labels=labels, kw=kw)

        return assemble

    rp2.asm_pio = asm_pio
    rp2.StateMachine = FakeStateMachine
    return rp2


class FakeStateMachine:
    made = []

    def __init__(self, sm_id, program, freq, set_base, bench=None):
        self.program, self.freq, self.pin, self.bench = program, freq, set_base, bench
        self.pc, self.cycle, self.reg = 0, 0, {_X: 0, _Y: 0, _ISR: 0, _OSR: 0}
        self.tx, self.rx, self.edges, self.running = [], [], [], False
        FakeStateMachine.made.append(self)

    def active(self, v):
        self.running = bool(v)

    def put(self, n):
        self.tx.append(n & 0xFFFFFFFF)
        self._run()

    def rx_fifo(self):
        return len(self.rx)

    def get(self):
        return self.rx.pop(0)

    def _run(self):  # until the program stalls on an empty TX FIFO
        code, labels, reg = self.program.code, self.program.labels, self.reg
        for _ in range(1000000):
            ins = code[self.pc]
            nxt = (self.pc + 1) % len(code)
            if ins.op == "pull":
                if not self.tx:
                    return
                reg[_OSR] = self.tx.pop(0)
            elif ins.op == "mov":
                reg[ins.args[0]] = reg[ins.args[1]]
            elif ins.op == "jmp":
                cond, label = ins.args if len(ins.args) == 2 else (None, ins.args[0])
                if cond is None or (cond == _NOT_X and reg[_X] == 0) or (cond == _X_DEC and reg[_X] != 0):
                    nxt = labels[label]
                if cond == _X_DEC:
                    reg[_X] = (reg[_X] - 1) & 0xFFFFFFFF
            elif ins.op == "set":
                assert ins.args[0] == _PINS
                self.edges.append((self.cycle, ins.args[1]))
                self.pin.value(ins.args[1])
            elif ins.op == "push":
                self.rx.append(reg[_ISR])
                reg[_ISR] = 0
            self.cycle += 1 + ins.delay
            self.pc = nxt
        raise AssertionError("PIO program never stalled")


def import_board(name):
    """Import board.<name> with fake machine/rp2 modules present only for the import itself."""
    saved = {k: sys.modules.get(k) for k in ("machine", "rp2", "bluetooth")}
    sys.modules["machine"] = make_machine(Bench(), "rp2")
    sys.modules["rp2"] = make_rp2()
    sys.modules["bluetooth"] = fake_bluetooth
    try:
        return importlib.import_module("board." + name)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


pico_w = import_board("pico_w")
esp32_devkit = import_board("esp32_devkit")


def board_rig(monkeypatch, mod, port):
    """Inject fresh fakes into a board module; returns (bench, fake machine)."""
    bench = Bench()
    fm = make_machine(bench, port)
    monkeypatch.setattr(mod, "machine", fm)
    monkeypatch.setattr(mod, "time", bench)
    monkeypatch.setattr(mod, "asyncio", types.SimpleNamespace(sleep_ms=bench.sleep_ms))
    monkeypatch.setattr(mod, "bluetooth", fake_bluetooth)
    if mod is pico_w:
        monkeypatch.setattr(mod, "rp2", make_rp2())
    bench.adc_mv[26] = bench.adc_mv[34] = [1650]
    return bench, fm
