"""The wired programming path end to end on CPython: the programmer's serial link (tools/pumplink/serial.py) against the
pump's side (pump.wired) on the simulated board, the board's console input (board.links.ConsoleInput), and the
app's wired task in virtual pump time: a program sent after boot starts dosing within the dosing task's feeding
period (a command used to wait for the deadline the task had before it, up to an hour)."""

import asyncio
import json
import struct

import pytest

import pump.app
from board import links
from board.sim import build
from board.sim.clock import SimRtc, VirtualClock
from board.sim.plant import Plant
from support.flash import FakeStorage
from pump import wire
from pump.app import FEED_MS
from pump.cmdauth import ROLE_CLINICIAN
from pump.commands import OP_REFILL, OP_SUSPEND
from pump.compat import TICKS_MASK
from pump.errors import E_REPLAY, PumpError
from support.keys import KC, KEY_DOC, command
from support.wirebench import WiredBench, answer
from support.wirebench import serial_link as _link
from support.apprig import CheapGc as _Gc
from support.apprig import new_app as _new_app
from support.plan import MONDAY_S
from tools.programmer import programmer
from tools.pumplink.link import LinkError

RX = {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
      "therapy": {"mode": "constant", "dose_ug_per_day": 15000}}  # 15 mL/day: a step of 200 nL every 1.152 s


def test_programmer_commands_through_the_serial_link_reach_the_pump(tmp_path):
    b = WiredBench()
    link, port = _link(b, counter=100)
    rx = tmp_path / "rx.json"
    rx.write_text(json.dumps(RX))
    said = []

    def run(*argv):
        return programmer.main(["--config", str(tmp_path / "none.json")] + list(argv) + ["--port", "bench"],
                               say=said.append, link_factory=lambda args, say: link)

    assert run("suspend") == 0 and said[-1] == "suspend: done" and b.rig.pump.suspended
    assert run("refill", "--fill-ul", "20000", "--concentration", "1000") == 0
    assert said[-2].startswith('refill: done {"bridge_nl": 150000, ')  # the catheter's old drug first
    assert said[-1] == "refill: aspirated volume not measured: no reconciliation (expected residual 20000 uL)"
    # 15 mL a day: no cell of this model keeps it 90 days past its replacement warning
    assert run("send", str(rx), "--confirm-soft") == 3 and "(--confirm-battery)" in said[-1]
    assert run("send", str(rx), "--confirm-soft", "--confirm-battery") == 0
    assert b.rig.pump.therapy.conc_ug_per_ml == 1000
    assert run("status") == 0 and said[-2].startswith("constant, suspended: rate 0.0 uL/day")
    assert port.closed and link.lines == ["2026-08-03 08:00 running rate 400.0 uL/day"]  # other lines kept aside
    assert run("prime", "--volume-ul", "9000") == 2 and "volume_ul" in said[-1]  # out of range: refused offline
    assert run("resume") == 0
    assert run("prime", "--volume-ul", "100") == 3 and "E300" in said[-1]  # running: refused by the pump, exit 3


def test_a_stale_counter_is_signed_again_just_above_the_pumps_once():
    b = WiredBench()
    assert b.send(KC, ROLE_CLINICIAN, 5000, OP_SUSPEND)[:2] == (OP_SUSPEND, 0)  # another host was ahead
    b.rig.pump.resume()
    link, _ = _link(b, counter=10)
    assert link.call("suspend") == {"ok": True} and b.rig.pump.suspended
    assert b.auth.last_counter(ROLE_CLINICIAN) == 5001 and link.counter == 5002


def test_no_answer_and_a_garbled_answer_are_link_errors_naming_the_port():
    b = WiredBench()
    link, _ = _link(b, drop_answers=1)
    with pytest.raises(LinkError, match="bench port: no answer from the pump within 10 s"):
        link.call("suspend")
    link, _ = _link(b, garble=True)
    with pytest.raises(LinkError, match="bench port: answer refused: base64 or CRC digits"):
        link.call("resume")
    with pytest.raises(PumpError):  # an unknown command never reaches the wire
        link.call("reboot")


def test_the_boards_console_input_waits_for_a_byte_then_takes_what_has_arrived():
    class Stdin:
        def __init__(self):
            self.buffer = self
            self.data = bytearray()

        def readinto(self, buf):
            assert self.data, "read only what is there"
            buf[0] = self.data.pop(0)
            return 1

    stdin = Stdin()

    class Poller:
        def register(self, stream, flags):
            assert stream is stdin and flags == 1

        def ipoll(self, timeout):
            assert timeout == 0
            return iter([(stdin, 1)] if stdin.data else [])

    class Reader:
        def __init__(self, stream):
            assert stream is stdin

        async def readinto(self, buf):
            while not stdin.data:
                await asyncio.sleep(0)
            return stdin.readinto(buf)

    fake_asyncio = type("asyncio", (), {"StreamReader": Reader})
    fake_select = type("select", (), {"poll": Poller, "POLLIN": 1})
    console = links.console_input(stdin, fake_asyncio, fake_select)

    async def main():
        buf = bytearray(4)
        task = asyncio.create_task(console.readinto(buf))
        await asyncio.sleep(0)
        stdin.data += b"abcdef"
        n = await task
        return bytes(buf[:n]), await console.readinto(buf), bytes(buf[:2])

    assert asyncio.run(main()) == (b"abcd", 2, b"ef")


class QueueConsole:
    """hw.console of the simulated board: what a host coroutine writes, handed over in chunks of what is there."""

    def __init__(self):
        self.pending = bytearray()

    async def readinto(self, buf):
        while not self.pending:
            await asyncio.sleep(0)
        n = min(len(buf), len(self.pending))
        buf[:n] = self.pending[:n]
        del self.pending[:n]
        return n


def test_the_app_answers_the_wire_and_a_program_sent_after_boot_doses_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(pump.app, "gc", _Gc)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KEY_DOC))
    clock = VirtualClock(TICKS_MASK - 1800000)
    console = QueueConsole()
    hw = build({"clock": clock, "plant": Plant(fill_ul=20000), "storage": FakeStorage(),
                "rtc": SimRtc(clock, MONDAY_S), "keys_path": str(keys), "console": console})
    steps = []
    step = hw.stepper.step_forward
    hw.stepper.step_forward = lambda n=1: steps.extend([clock.t_ms] * n) or step(n)
    lines = []
    app = _new_app(hw, lines.append, setup=None)
    assert app.wired is not None and app.wired.auth is app.command_auth()

    async def host():
        task = asyncio.create_task(app.run(2 * 3600000))
        await clock.sleep_ms(600000)  # ten minutes without a program: nothing to do until the hourly sample
        console.pending += b"print('hello')\r\n"
        console.pending += wire.request(command(KC, ROLE_CLINICIAN, 1, OP_REFILL, struct.pack("<II", 20000, 1000)))
        payload = b"\x03" + json.dumps(RX).encode()  # soft limits and the battery's 90 days confirmed
        console.pending += wire.request(command(KC, ROLE_CLINICIAN, 2, 1, payload))
        await clock.sleep_ms(10)
        sent_at = clock.t_ms
        await clock.sleep_ms(60000)
        console.pending += wire.request(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND))  # replayed counter
        await clock.sleep_ms(60000)
        await task
        return sent_at

    sent_at = asyncio.run(host())
    answers = [answer(x) for x in lines if x.startswith("@pump ans ")]
    assert [a[:3] for a in answers] == [(OP_REFILL, 0, 1), (1, 0, 2), (OP_SUSPEND, E_REPLAY, 2)]
    assert steps and steps[0] <= sent_at + FEED_MS + 1152  # within one feeding period and one step interval
    in_minute = [t for t in steps if sent_at + 5000 < t <= sent_at + 65000]
    assert abs(len(in_minute) - 60000 / 1152) <= 1
    assert app.fault is None and not app.pump.suspended
