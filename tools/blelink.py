"""The programmer's BLE link: each command framed, signed with the clinician key and answered on the pump's command
point (tools/pumpproto.py), through a small GATT seam that bleak (a real pump) and the Bumble central (the tests,
or a USB dongle) both fill.

GATT seam (async): `frame_size`; `read(uuid) -> bytes`; `write(uuid, data)` (with response); `subscribe(uuid)`
(indications, queued); `receive(uuid, timeout_s) -> bytes`; `close()`.

Command counters: the pump accepts a role's command only with a counter above the last one it accepted. The link
starts from the host clock (seconds since 2000) and counts up from there; if the pump answers "stale command counter"
it reports its last accepted counter, and the command is signed again once above it (one retry).
"""

import asyncio
import datetime

from tools.pumplink import EPOCH, Link, LinkError, check_call  # (puts lib/ on the path)

from tools import pumpproto as pp  # noqa: E402

from pump.errors import E_REPLAY, PumpError  # noqa: E402
from pump.frames import MAX_FRAME, MIN_FRAME  # noqa: E402
from pump.units import ug_to_ng  # noqa: E402

RESPONSE_TIMEOUT_S = 10.0
# response fields (tools/pumpproto.decode_response) a command returns to the programmer
_DATA_KEYS = ("bridge_nl", "holds", "acknowledged", "silence_ms")


def host_counter(now=None):
    """Seconds since 2000-01-01 by the host clock: a starting counter above any this host sent before."""
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return int((now - EPOCH).total_seconds())


def encode(command, args):
    """(opcode, parameter bytes) of a programmer command (tools/pumplink.COMMANDS names)."""
    if command == "program":
        return pp.OP_PROGRAM, pp.program_payload(args["prescription"], args.get("confirm_soft", False))
    if command == "refill":
        conc = args.get("concentration_ug_per_ml") or 0
        return pp.OP_REFILL, pp.command_payload(pp.OP_REFILL, args["fill_ul"], conc)
    if command == "prime":
        return pp.OP_PRIME, pp.command_payload(pp.OP_PRIME, args.get("volume_ul") or 0)
    if command == "bolus":
        flags = 1 if args.get("confirm_soft") else 0
        dose_ng = ug_to_ng(args["dose_ug"], "bolus.dose_ug")
        return pp.OP_CLINICIAN_BOLUS, pp.command_payload(pp.OP_CLINICIAN_BOLUS, dose_ng, args["duration_min"], flags)
    if command == "set_clock":
        return pp.OP_SET_CLOCK, pp.command_payload(pp.OP_SET_CLOCK, args["wall_s"])
    if command == "acknowledge":
        return pp.OP_ACKNOWLEDGE, pp.command_payload(pp.OP_ACKNOWLEDGE, args.get("code", 0))
    if command == "silence":
        return pp.OP_SILENCE, pp.command_payload(pp.OP_SILENCE, args["ms"])
    return pp.OPCODES[command], b""  # suspend, resume, resume_alarm, stop


class PumpClient:
    """Commands and status over a connected GATT seam, signed with `key` for `role`."""

    def __init__(self, gatt, key, role=pp.ROLE_CLINICIAN, counter=None, timeout_s=RESPONSE_TIMEOUT_S):
        self.gatt = gatt
        self.key = key
        self.role = role
        self.counter = host_counter() if counter is None else counter  # the next command's counter
        self.timeout_s = timeout_s
        self._e2e = 0
        self._subscribed = False

    async def status(self):
        """The status characteristic, decoded; with the features (nL per step, capacity, sensors)."""
        out = pp.decode_status(pp.Reassembler.unframe(await self.gatt.read(pp.STATUS_UUID)))
        out["features"] = pp.decode_features(pp.Reassembler.unframe(await self.gatt.read(pp.FEATURES_UUID)))
        return out

    async def command(self, command, args):
        """Send one command; its response dict, or PumpError with the pump's code and reason."""
        opcode, payload = encode(command, args)
        if not self._subscribed:
            await self.gatt.subscribe(pp.COMMAND_UUID)
            self._subscribed = True
        resp = await self._send(opcode, payload)
        if resp["result"] == E_REPLAY and resp["counter"] >= self.counter - 1:
            self.counter = resp["counter"] + 1  # the pump's last accepted counter is ahead of ours: once more
            resp = await self._send(opcode, payload)
        if resp["result"]:
            raise PumpError(resp["result"], resp["detail"] or pp.result_text(resp["result"]))
        return resp

    async def _send(self, opcode, payload):
        counter = self.counter
        self.counter += 1
        self._e2e = (self._e2e + 1) & 0xFF
        frame_size = min(max(self.gatt.frame_size, MIN_FRAME), MAX_FRAME)
        for frame in pp.encode_command(self.key, self.role, counter, opcode, payload, self._e2e, frame_size):
            await self.gatt.write(pp.COMMAND_UUID, frame)
        rx = pp.Reassembler()
        while True:
            try:
                frame = await self.gatt.receive(pp.COMMAND_UUID, self.timeout_s)
            except asyncio.TimeoutError:
                raise LinkError("no answer from the pump within %g s" % self.timeout_s) from None
            try:
                payload_in = rx.feed(frame)
            except pp.FrameError as e:
                raise LinkError("answer refused: %s" % e) from e
            if payload_in is not None:
                return pp.decode_response(payload_in)


class BleLink(Link):
    """The programmer's link (tools/pumplink.Link) over BLE: `open_gatt()` is a coroutine giving a connected seam.

    The link runs its own event loop, or with `loop` one that another thread runs (where the BLE stack lives: the
    tests' Bumble link, or an application's loop); the calls then wait for it."""

    def __init__(self, open_gatt, key, counter=None, timeout_s=RESPONSE_TIMEOUT_S, loop=None):
        self._loop = loop or asyncio.new_event_loop()
        self._own_loop = loop is None
        self._open_gatt = open_gatt
        self._key = key
        self._counter = counter
        self._timeout_s = timeout_s
        self.client = None

    def _run(self, coro):
        if self._own_loop:
            return self._loop.run_until_complete(coro)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _client(self):
        if self.client is None:
            gatt = await self._open_gatt()
            self.client = PumpClient(gatt, self._key, counter=self._counter, timeout_s=self._timeout_s)
        return self.client

    async def _call(self, command, args):
        client = await self._client()
        if command == "status":
            return await client.status()
        resp = await client.command(command, args)
        out = {"ok": True}
        for k in _DATA_KEYS:
            if k in resp:
                out[k] = resp[k]
        return out

    def call(self, command, **args):
        check_call(command, args)
        return self._run(self._call(command, args))

    def close(self):
        if self.client is not None:
            self._run(self.client.gatt.close())
            self.client = None
        if self._own_loop:
            self._loop.close()


# ---- the seam on a real pump: bleak ----


class BleakGatt:
    """A bonded BLE connection to a pump through bleak. The pump refuses commands on a link without MITM-protected
    pairing: pair once with the system's agent (e.g. `bluetoothctl`, `pair <address>`, then type the passkey the
    pump prints on its console, `make logs`)."""

    def __init__(self, client):
        self.client = client
        self.frame_size = max(MIN_FRAME, min(MAX_FRAME, client.mtu_size - 3))
        self._queues = {}

    @classmethod
    async def open(cls, device, timeout_s=10.0):
        """Connect to the pump whose name (PUMP-XXXX) or address is `device`."""
        from bleak import BleakClient, BleakScanner
        from bleak.exc import BleakError

        try:
            if ":" in device or ("-" in device and len(device) == 36):
                target = await BleakScanner.find_device_by_address(device, timeout=timeout_s)
            else:
                target = await BleakScanner.find_device_by_name(device, timeout=timeout_s)
            if target is None:
                raise LinkError("%s: no such pump in range" % device)
            client = BleakClient(target, timeout=timeout_s)
            await client.connect()
        except BleakError as e:
            raise LinkError("%s: %s" % (device, e)) from e
        except OSError as e:  # no BlueZ on the D-Bus, no adapter, no permission
            raise LinkError("%s: cannot reach the Bluetooth stack (%s)" % (device, e)) from e
        return cls(client)

    async def read(self, uuid):
        return bytes(await self.client.read_gatt_char(uuid))

    async def write(self, uuid, data):
        await self.client.write_gatt_char(uuid, bytes(data), response=True)

    async def subscribe(self, uuid):
        q = self._queues.setdefault(uuid, asyncio.Queue())
        await self.client.start_notify(uuid, lambda _c, data: q.put_nowait(bytes(data)))

    async def receive(self, uuid, timeout_s):
        return await asyncio.wait_for(self._queues[uuid].get(), timeout_s)

    async def close(self):
        await self.client.disconnect()


# ---- the seam on the Bumble central (tools/blehost/central.py) ----


class CentralGatt:
    """The seam on a connected, discovered and paired tools.blehost.central.Link."""

    def __init__(self, link):
        self.link = link
        self.frame_size = link.connection.att_mtu - 3

    async def read(self, uuid):
        return await self.link.read(uuid)

    async def write(self, uuid, data):
        await self.link.write(uuid, data, with_response=True)

    async def subscribe(self, uuid):
        await self.link.subscribe(uuid, indicate=True)

    async def receive(self, uuid, timeout_s):
        _kind, value = await self.link.next_update(uuid, timeout_s)
        return value

    async def close(self):
        await self.link.disconnect()
