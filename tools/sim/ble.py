"""The simulated pump on the air: a scenario (tools/sim/sim.py) whose pump serves the firmware's BLE service through the
Bumble `bluetooth` shim, on the in-process link (tests) or any Bumble transport (`usb:0`: a phone can connect).

    python -m tools.sim SCENARIO.json --ble [--ble-stack rp2-btstack|esp32-nimble] [--transport usb:0] [--speed 60]
                                      [--keys keys.json] [--seconds N]

The BLE task runs the service as the firmware's app does (`PumpService.run` whenever the stack reports something or
the service asked to run again); pump time either follows real time `speed` times faster (`run_realtime`) or is
moved on explicitly (`advance`, in tests). A scenario `reset` reboots the pump and its BLE stack: same address,
same storage, so bonds and command counters survive as on a board. `profile` is the BLE stack served as (the shim's
stack profiles: rp2-btstack, the Pico W's, without pairing; esp32-nimble with it; default PUMP_BLE_STACK, else
esp32-nimble); the secure session runs on AES from the `cryptography` package, as cryptolib.aes on a board.
"""

import asyncio
import os
import time

from pump import VERSION
from pump.blesession import DEADLINE_MS
from pump.bleservice import PumpService
from pump.cmdauth import ROLE_CLINICIAN, ROLE_PATIENT, parse_keys
from pump.compat import TICKS_MASK
from tools.blehost import bluetooth
from tools.pumplink.session import new_ecb

DEFAULT_SPEED = 60  # one pump minute per real second
CONNECT_S = DEADLINE_MS / 1000  # real seconds a connecting central gets before pump time runs on


class RealClock:
    """Real time in the board's ticks: a central lives in it however fast pump time runs (the session's deadline)."""

    @staticmethod
    def ticks_ms():
        return int(time.monotonic() * 1000) & TICKS_MASK


class BleSim:
    """A Simulation with the pump's BLE service; `printed` keeps what the pump showed (pairing passkeys)."""

    def __init__(self, sim, keys=None, link=None, transport=None, speed=DEFAULT_SPEED, urandom=os.urandom,
                 out=None, profile=None, link_clock=None):
        self.sim = sim
        self.profile = profile
        self.link_clock = link_clock  # the session deadline's time; None: pump time (tests move it with advance)
        self.keys = keys  # keys.json document, or None: no session opens (no telemetry, no commands)
        self.speed = speed
        self.printed = []
        self._out = out
        self._urandom = urandom
        self._where = {"link": link, "transport": transport, "address": None}
        self.svc = None
        self.ble = None
        self.boots = 0
        self.held = False  # True: run_realtime keeps pump time still (a central connecting at real speed)
        self._closed = False
        sim.check_commands = False  # the pump's own BLE service checks its command counters at each boot
        self._boot()
        self._task = asyncio.get_running_loop().create_task(self._ble_task())

    def _print(self, text):
        self.printed.append(text)
        if self._out is not None:
            self._out(text)

    def _boot(self):
        sim, w = self.sim, self._where
        self.ble = bluetooth.BLE(link=w["link"], transport=w["transport"], address=w["address"], name="sim-pump",
                                 profile=self.profile)
        hw = sim.hw
        hw.ble, hw.bluetooth, hw.urandom, hw.aes = self.ble, bluetooth, self._urandom, new_ecb
        self.svc = PumpService(self.ble, bluetooth, sim.pump, sim.storage, hw.uid_hex, VERSION, sim.clock,
                               keys=parse_keys(self.keys) if self.keys else None, urandom=self._urandom,
                               out=self._print, model="sim", new_ecb=new_ecb)
        if self.link_clock is not None:
            self.svc.sp.clock = self.link_clock
            self.svc.sp.reset()
        w["address"] = self.ble.address
        self.boots += 1

    def _reboot(self):
        """The pump was reset by the scenario: its BLE stack restarts with it (connections drop)."""
        old = self.svc
        self.ble.active(False)
        self._boot()
        old.flag.set()  # the BLE task moves on to the new service

    @property
    def name(self):
        return self.svc.name

    def sp_open(self):
        """A secure session is open on the pump's link."""
        return self.svc.sp.open

    def counters(self):
        """The last command counters the pump accepted: (clinician, patient)."""
        auth = self.svc.auth
        return auth.last_counter(ROLE_CLINICIAN), auth.last_counter(ROLE_PATIENT)

    # ---- pump time ----
    def advance(self, pump_ms):
        """Run the scenario `pump_ms` further, then let the service publish what changed."""
        self.advance_to(self.sim.clock.t_ms + pump_ms)

    def advance_to(self, t_ms):
        self.sim.advance(t_ms)
        if self.sim.pump is not self.svc.pump:
            self._reboot()
        self.svc.flag.set()

    async def run_realtime(self, seconds=None, stop=None, tick_s=0.02):
        """Pump time follows real time `speed` times faster, until the scenario ends, `seconds` have passed or the
        `stop` event is set."""
        loop = asyncio.get_running_loop()
        t0, pump0 = loop.time(), self.sim.clock.t_ms
        connecting = None  # when (real time) a central connected that has no session yet
        while self.sim.clock.t_ms < self.sim.end_ms:
            before = loop.time()
            await asyncio.sleep(tick_s)
            svc = self.svc
            if svc.conn is not None and not svc.sp.open:
                connecting = connecting or before
            else:
                connecting = None
            # pump time stands still (the real time that passed is not the pump's) while asked to, and while a
            # central opens its session: the pump's 5 s deadline is pump time, `speed` times shorter than a person
            # or a phone takes; after 5 real seconds it runs again, and the deadline ends the link as on a board
            if self.held or (connecting is not None and loop.time() - connecting < CONNECT_S):
                t0 += loop.time() - before
                continue
            elapsed = loop.time() - t0
            self.advance_to(min(pump0 + int(elapsed * 1000 * self.speed), self.sim.end_ms))
            if (seconds is not None and elapsed >= seconds) or (stop is not None and stop.is_set()):
                break

    # ---- the BLE task (pump/app.py's ble_events + ble_timer, with pump ms scaled to real time) ----
    async def _ble_task(self):
        while not self._closed:
            svc = self.svc
            svc.flag.clear()
            wait_ms = svc.run(self.sim.clock.ticks_ms())
            try:
                if wait_ms < 0:
                    await svc.flag.wait()
                else:
                    await asyncio.wait_for(svc.flag.wait(), wait_ms / 1000 / self.speed)
            except asyncio.TimeoutError:
                pass

    async def settle(self):
        """Let the BLE task and the stack's queued operations catch up."""
        for _ in range(10):
            await asyncio.sleep(0)
        await self.ble.settle()

    async def close(self):
        """Stop the BLE task (before the radio: the service never runs on a stopped stack), then the radio."""
        self._closed = True
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self.ble.active(False)
        await self.ble.settle()


class ServeError(Exception):
    """The radio could not be brought up (e.g. no controller behind the transport)."""


def load_keys(path):
    """The keys.json document for the service, from a file only its owner may read (tools/keys/keys.py checks it)."""
    from tools.keys import keys

    return {name: key.hex() for name, key in keys.load(path).items()}


async def serve(sim, keys=None, transport=None, speed=DEFAULT_SPEED, seconds=None, out=print, link=None, stop=None,
                profile=None):
    """`python -m tools.sim --ble`: advertise the simulated pump and run it in real time; returns the BleSim once
    the scenario ends or `seconds` have passed. ServeError if the controller cannot be reached."""
    bsim = BleSim(sim, keys=keys, link=link, transport=transport, speed=speed, out=out, profile=profile,
                  link_clock=RealClock())
    try:
        await bsim.ble.settle()
        if bsim.ble.op_errors:
            raise ServeError("BLE: no controller on %s: %s" % (transport or "the in-process link",
                                                               bsim.ble.op_errors[0]))
        addr_type, addr = bsim.ble.config("mac")
        out("BLE: %s advertising (%s address %s) on %s; pump time x%g; %s" % (
            bsim.name, "random" if addr_type else "public", bytes(addr).hex(":"),
            transport or "the in-process link (only this process can connect)", speed,
            "sessions and commands with the keys given" if keys else "no keys: no session opens, so no telemetry "
            "and no commands (Device Information, Battery and Features only)"))
        await bsim.run_realtime(seconds, stop)
    finally:
        await bsim.close()
    return bsim
