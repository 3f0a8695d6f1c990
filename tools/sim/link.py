"""A simulated pump to connect to in one command: the scenario's pump serving the firmware's BLE service on Bumble's
in-process link (tools/sim/ble.py) in this process, and a transport (scan, open) whose Bumble central reaches it, as
`python -m tools.telemetry --sim SCENARIO` and `python -m tools.programmer ... --sim SCENARIO` use it.

The pump's BLE stack is a stock image's (`--ble-stack`): on `rp2-btstack` there is no pairing, the session alone
protects the link; on `esp32-nimble` the central also pairs with the passkey the pump prints, typed as a person
does (the bond is then reused), and the session runs inside that encrypted link.
"""

import asyncio
import logging
import os

from board.sim.radio import BTSTACK, NIMBLE, PROFILES, profile_from_env
from tools import ROOT
from tools.blehost.central import IO_KEYBOARD_DISPLAY, Central
from tools.pumplink import proto as pp
from tools.pumplink.ble import CentralGatt
from tools.pumplink.link import LinkError
from tools.sim import ble as simble
from tools.sim.scenario import ScenarioError, load
from tools.sim.sim import Simulation

PAIRING = {BTSTACK: False, NIMBLE: True}  # the stock images' BLE stacks the Bumble shim plays (PUMP_BLE_STACK)
DEFAULT_KEYS = os.path.join(ROOT, "keys.json")
MTU = 247  # what a phone's stack (and the pump) offer: a sealed status or alarm is then one frame


class SimError(Exception):
    """A scenario, stack or keys file the simulated pump cannot start with (one line naming it)."""


def check_stack(stack):
    """The stack profile asked for (None: PUMP_BLE_STACK, else esp32-nimble); SimError naming the allowed ones."""
    if stack is not None and stack not in PROFILES:
        raise SimError("--ble-stack: %r: allowed %s" % (stack, ", ".join(PROFILES)))
    try:
        return stack or profile_from_env()
    except ValueError as e:
        raise SimError(str(e)) from None


def pump_keys(path=None):
    """The keys the simulated pump is provisioned with: keys.json (as `make deploy` puts it on a board)."""
    from tools.keys import keys

    path = path or DEFAULT_KEYS
    try:
        return simble.load_keys(path)
    except keys.KeysError as e:
        raise SimError("the simulated pump's keys: %s" % e) from None


class SimTransport:
    """The transport of tools/pumplink/ble.py onto a simulated pump in this process. `start()` boots it and runs its
    scenario in real time (`speed` times faster); `close()` stops both ends."""

    def __init__(self, scenario_path, stack=None, keys_path=None, speed=simble.DEFAULT_SPEED, out=None):
        self.stack = check_stack(stack)
        try:
            self.sim = Simulation(load(scenario_path))
        except ScenarioError as e:
            raise SimError("--sim: %s: %s" % (scenario_path, e)) from None
        self.keys = pump_keys(keys_path)
        self.speed = speed
        self.out = out
        self.bsim = None
        self.central = None
        self._bonded = False
        self._holds = 0
        self._stop = asyncio.Event()
        self._clock = None

    async def start(self):
        logging.getLogger("bumble").setLevel(logging.ERROR)  # its chatter (unsubscribed updates) is not the user's
        self.bsim = simble.BleSim(self.sim, keys=self.keys, speed=self.speed, out=self.out, profile=self.stack)
        await self.bsim.settle()
        self.central = await Central().start()
        self._clock = asyncio.ensure_future(self.bsim.run_realtime(stop=self._stop))
        return self

    async def close(self):
        self._stop.set()
        if self._clock is not None:
            await self._clock
        if self.central is not None:
            await self.central.close()
        if self.bsim is not None:
            await self.bsim.close()

    async def scan(self, timeout_s=5.0):
        try:
            advert = await self.central.scan(match=lambda a: pp.is_pump(a.name), timeout_s=timeout_s)
        except asyncio.TimeoutError:
            return []
        return [{"name": advert.name, "address": str(advert.address), "rssi": advert.rssi}]

    async def open(self, device=None, timeout_s=10.0):
        """Connect (and pair on a stack that pairs) with the pump's time held still: its deadlines (the session's
        5 s) are pump time, which otherwise runs `speed` times faster than the person pairing."""
        self.hold(True)
        try:
            return await self._open(device, timeout_s)
        finally:
            self.hold(False)

    def hold(self, held):
        """Keep pump time still (True) until as many hold(False) let it run again: SessionTransport holds it over
        the connection and the handshake."""
        self._holds += 1 if held else -1
        self.bsim.held = self._holds > 0

    async def _open(self, device, timeout_s):
        try:
            advert = await self.central.scan(name=device, match=lambda a: pp.is_pump(a.name), timeout_s=timeout_s)
        except asyncio.TimeoutError:
            raise LinkError("%s: no such pump in range" % device if device else "no pump in range") from None
        link = await self.central.connect(advert)
        await link.exchange_mtu(MTU)
        await link.discover()
        if PAIRING[self.stack]:
            if self._bonded:
                await link.encrypt()
            else:
                await link.pair(mitm=True, io=IO_KEYBOARD_DISPLAY, passkey=self._typed_passkey)
                self._bonded = True
        gatt = CentralGatt(link)
        gatt.name = advert.name
        return gatt

    async def _typed_passkey(self):
        """What the person pairing types: the passkey the simulated pump printed."""
        while True:
            shown = [t for t in self.bsim.printed if t.startswith("BLE pairing passkey")]
            if shown:
                return int(shown[-1].split()[-1])
            await asyncio.sleep(0.005)
