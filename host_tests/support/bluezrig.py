"""Test rig for bleak on BlueZ without a radio: a private dbus-daemon, BlueZoo (the `bluezoo` package: BlueZ's
org.bluez D-Bus API with emulated adapters) on it, and the pump as a BlueZ peripheral on one of those adapters.

Adapters: hci0 the laptop, hci1 the pump, hci2 some other advertiser. The pump is a D-Bus GATT application
registered with hci1's GattManager1 and an LE advertisement (PUMP-xxxx, the pump service); BlueZoo links it to the
laptop's adapter when bleak connects, forwarding reads, writes, StartNotify and value changes. Its values are the
firmware's own payloads (pump.telemetry status and alarm, pump.eventlog records, the features layout) of a scenario
pump, framed as the pump frames them, carried in the secure session as docs/ble.md's GATT contract says (the
firmware's own pump.session: the handshake on the Session characteristic, every status, alarm, RACP and history
message sealed on its stream; nothing readable without a session); the firmware's PumpService itself runs on
MicroPython's `bluetooth` API and is tested over Bumble (test_telemetry.py).
"""

import asyncio
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

from pump import racp
from pump import session as ss
from pump.cmdauth import parse_keys
from pump.seal import OVERHEAD
from pump.gatt import CMD_MAX, FEATURE_PRESSURE, FEATURES
from pump.eventlog import RECORD_SIZE
from pump.eventlog import encode as encode_record
from pump.frames import MAX_FRAME, MIN_FRAME
from pump.telemetry import ALARM_LEN, STATUS_LEN, Telemetry
from tools.pumplink import proto as pp
from tools.pumplink.secure import STREAMS
from tools.pumplink.session import new_ecb

LAPTOP = "00:00:00:00:00:01"
PUMP = "00:00:00:00:0A:0B"
OTHER = "00:00:00:00:0C:0D"
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def dbus_daemon():
    return shutil.which("dbus-daemon")


class Bluez:
    """A private dbus-daemon with BlueZoo on it (adapters hci0..hci2, powered), for one test. `address` is the bus
    for DBUS_SYSTEM_BUS_ADDRESS."""

    def __init__(self, scan_interval_s=1):
        self.dir = tempfile.mkdtemp(prefix="bus")  # short: a unix socket path has at most 107 bytes
        config = os.path.join(self.dir, "bus.conf")
        with open(config, "w") as f:
            f.write(BUS_CONFIG % os.path.join(self.dir, "socket"))
        self.daemon = subprocess.Popen([dbus_daemon(), "--nofork", "--config-file=" + config, "--print-address"],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.daemon.stdout.readline().strip()
        self.zoo = None
        if not self.address:
            self.stop()
            raise RuntimeError("dbus-daemon printed no address (exit code %s)" % self.daemon.wait())
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        args = ["--auto-enable", "--scan-interval", str(scan_interval_s), "-q", "-q"]
        for address in (LAPTOP, PUMP, OTHER):
            args += ["--adapter", address]
        self.log = open(os.path.join(self.dir, "bluezoo.log"), "w")
        self.zoo = subprocess.Popen([sys.executable, "-c", "import sys; from bluezoo.bluezoo import main; main()"]
                                    + args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        asyncio.run(self._ready())

    async def _ready(self, timeout_s=20):
        bus = await MessageBus(bus_address=self.address).connect()
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self.zoo.poll() is not None:
                    raise RuntimeError("bluezoo exited (%s): %s" % (self.zoo.returncode, self.output()))
                reply = await bus.call(Message(destination="org.bluez", path="/",
                                               interface="org.freedesktop.DBus.ObjectManager",
                                               member="GetManagedObjects"))
                if reply.message_type == MessageType.METHOD_RETURN:
                    powered = [p for p, ifaces in reply.body[0].items()
                               if ifaces.get("org.bluez.Adapter1", {}).get("Powered", Variant("b", False)).value]
                    if len(powered) == 3:
                        return
                await asyncio.sleep(0.05)
            raise RuntimeError("bluezoo not ready in %d s: %s" % (timeout_s, self.output()))
        finally:
            bus.disconnect()

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-2000:]

    def stop(self):
        for proc in (self.zoo, self.daemon):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.daemon.stdout:
            self.daemon.stdout.close()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


async def call(bus, path, interface, member, signature="", body=(), destination="org.bluez"):
    reply = await bus.call(Message(destination=destination, path=path, interface=interface, member=member,
                                   signature=signature, body=list(body)))
    if reply.message_type == MessageType.ERROR:
        raise RuntimeError("%s.%s: %s %s" % (interface, member, reply.error_name, reply.body))
    return reply.body


async def device_property(path, name):
    """A property of an org.bluez Device1 object, read on a bus connection of its own."""
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        body = await call(bus, path, "org.freedesktop.DBus.Properties", "Get", "ss", ("org.bluez.Device1", name))
        return body[0].value
    finally:
        bus.disconnect()


def device_path(adapter, address):
    return "/org/bluez/%s/dev_%s" % (adapter, address.replace(":", "_"))


# ---- D-Bus objects (BlueZ's peripheral API) ----


class Advertisement(ServiceInterface):
    def __init__(self, name, uuids=()):
        super().__init__("org.bluez.LEAdvertisement1")  # (its `name` attribute is the interface's)
        self.local_name = name
        self.uuids = list(uuids)

    @method()
    def Release(self):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> "s":  # noqa: F821
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> "s":  # noqa: F821
        return self.local_name

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> "as":  # noqa: F722
        return self.uuids

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> "b":  # noqa: F821
        return True


class Service(ServiceInterface):
    def __init__(self, uuid):
        super().__init__("org.bluez.GattService1")
        self.uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":  # noqa: F821
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> "b":  # noqa: F821
        return True


class Characteristic(ServiceInterface):
    """One characteristic: `read()` gives its value; `on_write(bytes)` takes writes; `confirmed` is set each time
    BlueZ confirms a value change it forwarded to the central."""

    def __init__(self, uuid, service, flags, read=None, on_write=None):
        super().__init__("org.bluez.GattCharacteristic1")
        self.uuid, self.service, self.flags = uuid, service, flags
        self.read, self.on_write = read, on_write
        self.value = b""
        self.notifying = False
        self.confirmed = asyncio.Event()

    @method()
    def ReadValue(self, options: "a{sv}") -> "ay":  # noqa: F821, F722
        return self.read()

    @method()
    def WriteValue(self, value: "ay", options: "a{sv}"):  # noqa: F821, F722
        self.on_write(bytes(value))

    @method()
    def StartNotify(self):
        self.notifying = True

    @method()
    def StopNotify(self):
        self.notifying = False

    @method()
    def Confirm(self):
        self.confirmed.set()

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":  # noqa: F821
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> "o":  # noqa: F821
        return self.service

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> "as":  # noqa: F722
        return self.flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":  # noqa: F821
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> "b":  # noqa: F821
        return self.notifying

    async def send(self, frame, timeout_s=5):
        """A value change (notification or indication) forwarded to the central, once BlueZ confirmed it."""
        self.confirmed.clear()
        self.value = bytes(frame)
        self.emit_properties_changed({"Value": self.value})
        await asyncio.wait_for(self.confirmed.wait(), timeout_s)


class DbusPump:
    """A scenario pump (tools.sim.sim.Simulation) as a BlueZ peripheral on hci1. `publish()` notifies the status and
    indicates the alarm when they changed (after `sim.advance`); a RACP "report all" notifies every event-log record,
    then indicates the answer. Frames are `frame_size` bytes (the default MTU's 20), every value change in order."""

    APP = "/pump"

    def __init__(self, sim, keys, adapter="/org/bluez/hci1", frame_size=MIN_FRAME):
        self.sim = sim
        self.session = ss.PumpSession(parse_keys(keys), bytes.fromhex(sim.hw.uid_hex), os.urandom, new_ecb)
        self._session_rx = pp.Reassembler(64)
        self.adapter = adapter
        self.frame_size = frame_size
        self.name = pp.NAME_PREFIX + sim.hw.uid_hex[-4:].upper()
        self.telemetry = Telemetry(sim.pump)
        self.bus = None
        self.e2e = {}
        self.sent = {}
        self.racp_writes = 0
        self._rx = pp.Reassembler(64)
        self._queue = asyncio.Queue()
        self._sender = None
        svc = self.APP + "/service0"
        chars = [(pp.FEATURES_UUID, ["read"], self._features, None),
                 (pp.STATUS_UUID, ["read", "notify"], lambda: self._read(self.status_payload(), pp.STATUS_UUID),
                  None),
                 (pp.ALARM_UUID, ["read", "indicate"], lambda: self._read(self.alarm_payload(), pp.ALARM_UUID), None),
                 (pp.RACP_UUID, ["write", "indicate"], None, self._racp),
                 (pp.HISTORY_UUID, ["notify"], None, None),
                 (ss.SESSION_UUID, ["write", "indicate"], None, self._handshake)]
        self.service = (svc, Service(pp.SERVICE_UUID))
        self.chars = {uuid: ("%s/char%d" % (svc, i), Characteristic(uuid, svc, flags, read, on_write))
                      for i, (uuid, flags, read, on_write) in enumerate(chars)}

    async def start(self):
        self.bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self.bus.export(*self.service)
        for path, obj in self.chars.values():
            self.bus.export(path, obj)
        self.bus.export("/adv", Advertisement(self.name, [pp.SERVICE_UUID]))
        await call(self.bus, self.adapter, "org.bluez.LEAdvertisingManager1", "RegisterAdvertisement", "oa{sv}",
                   ("/adv", {}))
        await call(self.bus, self.adapter, "org.bluez.GattManager1", "RegisterApplication", "oa{sv}",
                   (self.APP, {}))
        self._sender = asyncio.ensure_future(self._send_all())
        self.sent = {pp.STATUS_UUID: self.status_payload(), pp.ALARM_UUID: self.alarm_payload()}
        return self

    async def stop(self):
        if self._sender is not None:
            self._sender.cancel()
        if self.bus is not None:
            self.bus.disconnect()

    # ---- payloads: the firmware's layouts ----
    def status_payload(self):
        buf = bytearray(STATUS_LEN)
        self.telemetry.status(buf, self.sim.clock.ticks_ms())
        return bytes(buf)

    def alarm_payload(self):
        buf = bytearray(ALARM_LEN)
        self.telemetry.alarm(buf, self.sim.clock.ticks_ms())
        return bytes(buf)

    def _features(self):
        p = self.sim.pump
        flags = FEATURE_PRESSURE if p.hw.pressure is not None else 0
        return self._read(struct.pack(FEATURES, flags, CMD_MAX, p.nl_per_step, p.cfg.reservoir_ul))

    def _read(self, payload, uuid=None):
        """A read value: the whole message in one frame; a pump characteristic's sealed, empty without a session."""
        if uuid is not None:
            payload = self._sealed(uuid, payload)
            if payload is None:
                return b""
        return pp.split(payload, 0, MAX_FRAME)[0]

    def _sealed(self, uuid, payload):
        """`payload` sealed on its characteristic's stream, None without an open session."""
        out = bytearray(len(payload) + OVERHEAD)
        n = self.session.seal(STREAMS[uuid], payload, len(payload), out)
        return bytes(out[:n]) if n else None

    def _handshake(self, frame):
        msg = self._session_rx.feed(frame)
        if msg is not None:
            self._message(ss.SESSION_UUID, self.session.handshake(bytearray(msg), len(msg)), seal=False)

    # ---- value changes, in order ----
    def _message(self, uuid, payload, seal=True):
        if seal:
            payload = self._sealed(uuid, payload)
            if payload is None:  # no session: nothing goes out
                return
        e2e = self.e2e[uuid] = (self.e2e.get(uuid, 0) + 1) & 0xFF
        for frame in pp.split(payload, e2e, self.frame_size):
            self._queue.put_nowait((uuid, frame))

    async def _send_all(self):
        while True:
            uuid, frame = await self._queue.get()
            char = self.chars[uuid][1]
            if char.notifying:
                await char.send(frame)

    async def drained(self):
        while not self._queue.empty():
            await asyncio.sleep(0.01)

    def publish(self):
        """Send the status and the alarm if they changed since last sent (as the pump's service does)."""
        for uuid, payload in ((pp.STATUS_UUID, self.status_payload()), (pp.ALARM_UUID, self.alarm_payload())):
            if payload != self.sent.get(uuid):
                self.sent[uuid] = payload
                self._message(uuid, payload)

    def _racp(self, frame):
        self.racp_writes += 1
        request = self._rx.feed(frame)
        if request is None:
            return
        buf = bytearray(request)
        if self.session.open(STREAMS[pp.RACP_UUID], buf, len(buf)):
            return  # not sealed in this session: no answer (the contract's "ignored")
        request = bytes(buf[: self.session.n])
        if request[:2] != bytes((racp.OP_REPORT, racp.OPR_ALL)):
            code = racp.RC_OP_NOT_SUPPORTED
        else:
            records = list(self.sim.pump.log.read())
            for rec in records:
                buf = bytearray(RECORD_SIZE)
                encode_record(buf, memoryview(buf)[:20], *rec)
                self._message(pp.HISTORY_UUID, buf)
            code = racp.RC_SUCCESS if records else racp.RC_NO_RECORDS
        self._message(pp.RACP_UUID, struct.pack(racp.RESPONSE, racp.OP_RESPONSE, 0, request[0], code))


class Agent(ServiceInterface):
    """The laptop's pairing agent (the desktop's or bluetoothctl's role): BlueZoo pairs only with NoInputNoOutput."""

    def __init__(self):
        super().__init__("org.bluez.Agent1")

    @method()
    def Release(self):
        pass

    @method()
    def Cancel(self):
        pass


async def laptop_agent():
    """Register the agent on a bus connection of its own; returns that connection (disconnect to unregister)."""
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    bus.export("/agent", Agent())
    await call(bus, "/org/bluez", "org.bluez.AgentManager1", "RegisterAgent", "os", ("/agent", "NoInputNoOutput"))
    return bus


async def other_advertiser(name="HEADSET-12", adapter="/org/bluez/hci2"):
    """Something else on the air (no pump service)."""
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    bus.export("/adv", Advertisement(name, ["0000180f-0000-1000-8000-00805f9b34fb"]))
    await call(bus, adapter, "org.bluez.LEAdvertisingManager1", "RegisterAdvertisement", "oa{sv}", ("/adv", {}))
    return bus
