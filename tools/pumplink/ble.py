"""The host's BLE link to a pump: the programmer's commands, each framed, signed with the clinician key and answered
on the pump's command point (tools/pumplink/proto.py), and the history a telemetry client reads, through a small GATT
seam that bleak (a real pump) and the Bumble central (the tests, or a USB dongle) both fill.

GATT seam (async): `frame_size`; `read(uuid) -> bytes`; `write(uuid, data)` (with response); `subscribe(uuid)`
(notifications or indications, as the characteristic has, queued); `receive(uuid, timeout_s) -> bytes` (timeout None:
wait for ever); `pending(uuid) -> [bytes]` (what already arrived, not waiting); `lost` (an asyncio.Event set when the
link drops); `close()`. A transport finds pumps and opens seams: `scan(timeout_s) -> [{"name", "address",
"rssi"}]`, strongest first, and `open(device, timeout_s) -> seam` (a name, an address, or None: the first pump heard).

Command counters: the pump accepts a role's command only with a counter above the last one it accepted, by at most
2**16 (pump.cmdauth.MAX_COUNTER_STEP). The link starts from the host clock (seconds since 2000) and counts up from
there; if the pump answers "stale command counter" or "command counter too far ahead" it reports its last accepted
counter, and the command is signed again just above it (one retry).
"""

import asyncio
import datetime
import warnings

from tools.pumplink.link import EPOCH, Link, LinkError, check_call

from tools.pumplink import proto as pp

from pump import racp
from pump.errors import E_COUNTER_AHEAD, E_REPLAY, PumpError
from pump.frames import MAX_FRAME, MIN_FRAME
from pump.units import ug_to_ng

RESPONSE_TIMEOUT_S = 10.0
# response fields (tools.pumplink.proto.decode_response) a command returns to the programmer
_DATA_KEYS = ("eri_days", "eos_days", "bridge_nl", "expected_ul", "tolerance_ul", "discrepancy_ul", "holds",
              "acknowledged", "silence_ms")


def host_counter(now=None):
    """Seconds since 2000-01-01 by the host clock: a starting counter above any this host sent before."""
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return int((now - EPOCH).total_seconds())


def encode(command, args):
    """(opcode, parameter bytes) of a programmer command (tools.pumplink.link.COMMANDS names)."""
    if command == "program":
        return pp.OP_PROGRAM, pp.program_payload(args["prescription"], args.get("confirm_soft", False),
                                                 args.get("confirm_battery", False))
    if command == "refill":
        conc = args.get("concentration_ug_per_ml") or 0
        aspirated = args.get("aspirated_ul")
        return pp.OP_REFILL, pp.command_payload(pp.OP_REFILL, args["fill_ul"], conc,
                                                pp.NOT_MEASURED if aspirated is None else aspirated)
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
    if command == "trial":  # the same layout as a program: flags, then the JSON
        return pp.OP_TRIAL, pp.program_payload(args["trial"], args.get("confirm_soft", False))
    if command == "pain_score":
        return pp.OP_PAIN_SCORE, pp.pain_payload(args["score"], args.get("baseline", False),
                                                 args.get("side_effects", 0), args.get("free_code", 0))
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
        stale = resp["result"] == E_REPLAY and resp["counter"] >= self.counter - 1  # the pump's is ahead of ours
        if stale or resp["result"] == E_COUNTER_AHEAD:  # or ours too far ahead of the pump's: just above it, once
            self.counter = resp["counter"] + 1
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
    """The programmer's link (tools.pumplink.link.Link) over BLE: `open_gatt()` is a coroutine giving a connected seam.

    The link runs its own event loop, or with `loop` one that another thread runs (where the BLE stack lives: the
    tests' Bumble link, or an application's loop); the calls then wait for it."""

    def __init__(self, open_gatt, key, counter=None, timeout_s=RESPONSE_TIMEOUT_S, loop=None, on_close=None):
        self._loop = loop or asyncio.new_event_loop()
        self._on_close = on_close  # a coroutine function run after the link closed (a simulated pump stopping)
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
        if self._on_close is not None:
            self._run(self._on_close())
            self._on_close = None
        if self._own_loop:
            self._loop.close()


# ---- history (RACP) over any seam ----


async def read_history(gatt, request=None, timeout_s=RESPONSE_TIMEOUT_S):
    """The event-log records a RACP request reports (default: all), oldest first, and the final RACP answer:
    (records, answer, refused) with `refused` the record frames or records that failed their checks (skipped).
    The pump notifies every record before it indicates the answer, so the records are those queued by then;
    `timeout_s` is the longest silence tolerated while records still arrive."""
    request = request or pp.racp_request(racp.OP_REPORT, racp.OPR_ALL)
    await gatt.subscribe(pp.HISTORY_UUID)
    await gatt.subscribe(pp.RACP_UUID)
    for name in (pp.HISTORY_UUID, pp.RACP_UUID):
        gatt.pending(name)  # nothing left from an earlier request
    for frame in pp.split(request, 1, min(max(gatt.frame_size, MIN_FRAME), MAX_FRAME)):
        await gatt.write(pp.RACP_UUID, frame)
    frames, answer, rx = [], None, pp.Reassembler(64)
    while answer is None:
        try:
            frame = await gatt.receive(pp.RACP_UUID, timeout_s)
        except asyncio.TimeoutError:
            more = gatt.pending(pp.HISTORY_UUID)
            if not more:
                raise LinkError("history: no answer from the pump within %g s" % timeout_s) from None
            frames.extend(more)
            continue
        try:
            answer = rx.feed(frame)
        except pp.FrameError as e:
            raise LinkError("history: answer refused: %s" % e) from e
    frames.extend(gatt.pending(pp.HISTORY_UUID))
    records, refused, rx = [], 0, pp.Reassembler(64)
    for frame in frames:
        try:
            payload = rx.feed(frame)
            if payload is not None:
                records.append(pp.decode_history(payload))
        except ValueError:  # a refused frame (FrameError) or a record failing its CRC
            refused += 1
    return records, pp.decode_racp(answer), refused


# ---- the seam on a real pump: bleak ----


def _scan_error(e):
    if isinstance(e, OSError):
        return "cannot scan: no Bluetooth stack to reach (BlueZ on the system D-Bus): %s" % e
    return "cannot scan: %s" % (e or type(e).__name__)


def _key(device):
    return device.upper() if ":" in device else device  # addresses in any case; names as advertised


class BleakTransport:
    """Pumps through bleak (BlueZ over D-Bus on Linux, CoreBluetooth, WinRT). `adapter` picks a BlueZ adapter
    (`hci0`); `pair` asks the system to pair after connecting (BlueZ: its agent, e.g. the desktop's or
    `bluetoothctl`, asks for the passkey the pump prints; a bonded pump is not paired again; where bleak cannot pair
    on request, as on macOS, the system pairs at the first encrypted read). Devices seen by a scan are remembered,
    so a connection or a reconnection to one needs no new scan."""

    def __init__(self, adapter=None, pair=True):
        self.adapter = adapter
        self.pair = pair
        self._seen = {}

    def _scanner_args(self):
        return {"bluez": {"adapter": self.adapter}} if self.adapter else {}

    async def scan(self, timeout_s=5.0):
        from bleak import BleakScanner

        try:
            found = await BleakScanner.discover(timeout=timeout_s, return_adv=True, **self._scanner_args())
        except Exception as e:  # BleakError, or OSError/D-Bus errors: no BlueZ, no adapter, no permission
            raise LinkError(_scan_error(e)) from e
        pumps = []
        for device, adv in found.values():
            name = adv.local_name or device.name or ""
            if pp.is_pump(name, adv.service_uuids):
                self._remember(device, name)
                pumps.append({"name": name, "address": device.address, "rssi": adv.rssi})
        return sorted(pumps, key=lambda p: (-p["rssi"], p["name"]))

    def _remember(self, device, name):
        self._seen[_key(device.address)] = device
        if name:
            self._seen[name] = device

    async def open(self, device=None, timeout_s=10.0):
        target = self._seen.get(_key(device)) if device else None
        if target is None:
            target = await self._find(device, timeout_s)
        return await BleakGatt.connect(target, timeout_s, pair=self.pair)

    async def _find(self, device, timeout_s):
        """The first advertiser that is `device` (or any pump): the callback is in place before the scan starts,
        so an advertisement reported at once is not missed."""
        from bleak import BleakScanner

        found = asyncio.get_running_loop().create_future()

        def seen(d, adv):
            name = adv.local_name or d.name or ""
            if device is None:
                wanted = pp.is_pump(name, adv.service_uuids)
            else:
                wanted = _key(d.address) == _key(device) or name == device
            if wanted and not found.done():
                found.set_result(d)

        try:
            scanner = BleakScanner(detection_callback=seen, **self._scanner_args())
            await scanner.start()
            try:
                target = await asyncio.wait_for(found, timeout_s)
            except asyncio.TimeoutError:
                target = None
            finally:
                await scanner.stop()
        except Exception as e:  # BleakError, or OSError/D-Bus errors: no BlueZ, no adapter, no permission
            raise LinkError(("%s: " % device if device else "") + _scan_error(e)) from e
        if target is None:
            raise LinkError("%s: no such pump in range" % device if device else "no pump in range")
        self._remember(target, target.name)
        return target


class BleakGatt:
    """A connection to a pump through bleak. The pump refuses commands on a link without MITM-protected pairing:
    pair with the system's agent (e.g. `bluetoothctl`, `pair <address>`, then type the passkey the pump prints on
    its console, `make logs`); BleakTransport asks for it after connecting."""

    def __init__(self, client, lost=None):
        self.client = client
        with warnings.catch_warnings():  # BlueZ: bleak warns that it has no MTU but the default one
            warnings.simplefilter("ignore")
            mtu = client.mtu_size
        self.frame_size = max(MIN_FRAME, min(MAX_FRAME, mtu - 3))
        self.lost = lost or asyncio.Event()
        self.name = None
        self._queues = {}

    @classmethod
    async def open(cls, device, timeout_s=10.0):
        """Connect to the pump whose name (PUMP-XXXX) or address is `device`."""
        return await BleakTransport().open(device, timeout_s)

    @classmethod
    async def connect(cls, target, timeout_s=10.0, pair=True):
        """Connect to a BLEDevice (or address) found by a scan; then pair if asked."""
        from bleak import BleakClient
        from bleak.exc import BleakError

        name = getattr(target, "name", None) or str(getattr(target, "address", target))
        lost = asyncio.Event()
        client = BleakClient(target, timeout=timeout_s, disconnected_callback=lambda _c: lost.set())
        try:
            await client.connect()
        except (BleakError, asyncio.TimeoutError) as e:
            await _quietly(client.disconnect())
            raise LinkError("%s: %s" % (name, e or "connection timed out")) from e
        except OSError as e:  # no BlueZ on the D-Bus, no adapter, no permission
            raise LinkError("%s: cannot reach the Bluetooth stack (%s)" % (name, e)) from e
        if pair:
            try:
                await client.pair()
            except NotImplementedError:
                pass  # the system pairs by itself at the first encrypted read
            except (BleakError, asyncio.TimeoutError) as e:
                await _quietly(client.disconnect())
                raise LinkError("%s: pairing failed (%s): a Bluetooth agent must ask for the passkey the pump prints "
                                "(the desktop's, or `bluetoothctl` with `agent on`)" % (name, e or "timed out")) from e
        gatt = cls(client, lost)
        gatt.name = name
        return gatt

    async def read(self, uuid):
        return bytes(await self.client.read_gatt_char(uuid))

    async def write(self, uuid, data):
        await self.client.write_gatt_char(uuid, bytes(data), response=True)

    async def subscribe(self, uuid):
        if uuid in self._queues:
            return
        q = self._queues[uuid] = asyncio.Queue()
        await self.client.start_notify(uuid, lambda _c, data: q.put_nowait(bytes(data)))

    async def receive(self, uuid, timeout_s):
        return await asyncio.wait_for(self._queues[uuid].get(), timeout_s)

    def pending(self, uuid):
        q = self._queues.get(uuid)
        out = []
        while q is not None and not q.empty():
            out.append(q.get_nowait())
        return out

    async def close(self):
        await self.client.disconnect()


async def _quietly(coro):
    try:
        await coro
    except Exception:  # noqa: BLE001 - closing a link that may be gone already
        pass


# ---- the seam on the Bumble central (tools/blehost/central.py) ----


class CentralGatt:
    """The seam on a connected, discovered and paired tools.blehost.central.Link."""

    def __init__(self, link):
        self.link = link
        self.frame_size = link.connection.att_mtu - 3
        self.lost = asyncio.Event()
        link.disconnected.add_done_callback(lambda _f: self.lost.set())

    async def read(self, uuid):
        return await self.link.read(uuid)

    async def write(self, uuid, data):
        await self.link.write(uuid, data, with_response=True)

    async def subscribe(self, uuid):
        indicate = bool(self.link.characteristic(uuid).properties & _INDICATE)
        await self.link.subscribe(uuid, indicate=indicate)

    async def receive(self, uuid, timeout_s):
        _kind, value = await self.link.next_update(uuid, timeout_s)
        return value

    def pending(self, uuid):
        return [value for _kind, value in self.link.pending(uuid)]

    async def close(self):
        await self.link.disconnect()


_INDICATE = 0x20  # the characteristic property bit (Core Vol 3 Part G 3.3.1.1)
