"""Test helpers for the pump over BLE: a scenario pump on the air (tools.simble) and a phone speaking its protocol
(tools.pumpproto) through a Bumble central (tools.blehost.central)."""

import asyncio

from bumble import att

from tools import pumpproto as pp
from tools.blehost.central import IO_KEYBOARD_DISPLAY, Central
from tools.scenario import Scenario
from tools.sim import Simulation
from tools.simble import BleSim

KEYS = {"clinician": "c1" * 32, "patient": "9a" * 32}
KEY = {pp.ROLE_CLINICIAN: bytes.fromhex(KEYS["clinician"]), pp.ROLE_PATIENT: bytes.fromhex(KEYS["patient"])}
PB = {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}
SCENARIO = {"days": 30, "pump": {"nl_per_step": 200}, "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
            "fill_ul": 20000, "therapy": {"mode": "constant", "dose_ug_per_day": 5000}, "patient_bolus": PB}
HOUR_MS = 3600000


def run(coro_fn, timeout_s=30):
    """Run one test body on a fresh event loop (and so a fresh in-process link)."""

    async def main():
        return await asyncio.wait_for(coro_fn(), timeout_s)

    return asyncio.run(main())


def pump_on_air(doc=None, keys=KEYS, **kwargs):
    """A scenario pump (default: 5 mg/day morphine, patient bolus enabled) serving BLE; passkeys from a counter."""
    seed = iter(range(1, 1 << 30))
    return BleSim(Simulation(Scenario(doc or SCENARIO)), keys=keys, speed=1000,
                  urandom=lambda n: next(seed).to_bytes(n, "little"), **kwargs)


async def typed_passkey(bsim):
    """What the person pairing types: the passkey the pump prints, once it has printed it."""
    while not any(t.startswith("BLE pairing passkey") for t in bsim.printed):
        await asyncio.sleep(0.001)
    return int([t for t in bsim.printed if t.startswith("BLE pairing passkey")][-1].split()[-1])


class Phone:
    """The clinician's or patient's app: one `Link` to the pump, the protocol on top."""

    def __init__(self, link):
        self.link = link
        self.counter = {pp.ROLE_CLINICIAN: 0, pp.ROLE_PATIENT: 0}
        self._e2e = 0

    @classmethod
    async def connect(cls, bsim, central=None):
        central = central or await Central().start()
        link = await central.connect(await central.scan(name=bsim.name))
        await link.discover()
        phone = cls(link)
        await phone.subscribe()
        return phone

    async def subscribe(self):
        """As the app does on connecting: status and history notifications, the rest as indications."""
        for uuid in (pp.STATUS_UUID, pp.HISTORY_UUID):
            await self.link.subscribe(uuid)
        for uuid in (pp.ALARM_UUID, pp.COMMAND_UUID, pp.RACP_UUID):
            await self.link.subscribe(uuid, indicate=True)

    async def pair_mitm(self, bsim):
        """Passkey entry: the pump displays, the person types it on the phone (MITM-protected); returns the first
        status the pump then notifies (so what arrives next is news)."""
        await self.link.pair(mitm=True, io=IO_KEYBOARD_DISPLAY, passkey=lambda: typed_passkey(bsim))
        return pp.decode_status(await self.message(pp.STATUS_UUID))

    async def status(self):
        return pp.decode_status(pp.Reassembler.unframe(await self.link.read(pp.STATUS_UUID)))

    async def message(self, uuid, timeout_s=2.0):
        """The next complete message sent on a characteristic (notified or indicated frames); a message whose
        first fragments were missed is skipped, as an app does."""
        rx = pp.Reassembler(4096)
        while True:
            _kind, frame = await self.link.next_update(uuid, timeout_s)
            try:
                payload = rx.feed(frame)
            except pp.FrameError:
                continue
            if payload is not None:
                return payload

    def forget(self, uuid):
        """Drop what already arrived on a characteristic: the next message is a new one."""
        self.link.pending(uuid)

    async def send(self, role, opcode, payload=b"", counter=None, key=None, tamper=None):
        """One command (frames written to the command point); returns the pump's decoded answer. `tamper(message)`
        alters the signed message before it is framed (the frames themselves stay well-formed)."""
        if counter is None:
            self.counter[role] += 1
            counter = self.counter[role]
        e2e = self._next_e2e()
        frames = pp.encode_command(key or KEY[role], role, counter, opcode, payload, e2e, self.frame_size)
        if tamper is not None:
            frames = pp.split(tamper(pp.Reassembler.unframe(frames)), e2e, self.frame_size)
        await self.write_frames(pp.COMMAND_UUID, frames)
        return pp.decode_response(await self.message(pp.COMMAND_UUID))

    async def write_frames(self, uuid, frames):
        for frame in frames:
            await self.link.write(uuid, frame)

    async def history(self, request):
        """A RACP request: (records notified, the final RACP answer)."""
        await self.write_frames(pp.RACP_UUID, pp.split(request, self._next_e2e(), self.frame_size))
        return await self.history_answer()

    async def history_answer(self):
        """Records notified until the final RACP answer arrives, and that answer (decoded)."""
        records = []
        answer = asyncio.ensure_future(self.message(pp.RACP_UUID, timeout_s=5))
        notified = self.link.listen(pp.HISTORY_UUID)
        history = pp.Reassembler(64)
        while not answer.done():
            update = asyncio.ensure_future(notified.get())
            await asyncio.wait((answer, update), return_when=asyncio.FIRST_COMPLETED)
            if not update.done():
                update.cancel()
                continue
            payload = history.feed(update.result()[1])
            if payload is not None:
                records.append(pp.decode_history(payload))
        records.extend(pp.decode_history(p) for p in self._drain_history(history))
        return records, pp.decode_racp(answer.result())

    def _drain_history(self, history):
        out = []
        for _kind, frame in self.link.pending(pp.HISTORY_UUID):
            payload = history.feed(frame)
            if payload is not None:
                out.append(payload)
        return out

    @property
    def frame_size(self):
        return self.link.connection.att_mtu - 3

    def _next_e2e(self):
        self._e2e = (self._e2e + 1) & 0xFF
        return self._e2e


async def refused(op):
    """The ATT error code an operation is refused with."""
    try:
        await op
    except att.ATT_Error as e:
        return e.error_code
    raise AssertionError("not refused")
