"""tools/pumplink/secure.py: the session opened over the Session characteristic and the sealing seam, against a seam
whose far end is the firmware's own PumpSession (pump.session) framing and sealing as the GATT contract says; the
clients' own code above it (PumpClient, read_history) unchanged."""

import asyncio

import pytest

from support.keys import KC, KM, KP, key_doc
from support.session import PUMP_ID
from pump import racp
from pump import session as ss
from pump.cmdauth import ROLE_CLINICIAN, ROLE_MONITOR, parse_keys
from pump.errors import E_INSECURE, E_ROLE
from pump.seal import OVERHEAD
from tools.pumplink import proto as pp
from tools.pumplink.ble import PumpClient, read_history
from tools.pumplink.link import LinkError
from tools.pumplink.secure import SERIAL_UUID, STREAMS, SecureGatt, open_session, secure
from tools.pumplink.session import Session, new_ecb

STATUS = bytes(range(29))
RECORDS = [bytes((i,)) * 24 for i in range(3)]


class PumpSeam:
    """A GATT seam whose far end is a pump carrying the session: handshake on the Session characteristic, every
    pump characteristic's message sealed on its stream, then framed; nothing but an empty value without a session.
    `wire` keeps every frame that crossed the link, both ways."""

    frame_size = 20

    def __init__(self, doc=None, pump_id=PUMP_ID):
        self.pump = ss.PumpSession(parse_keys(doc or key_doc()), pump_id, lambda n: bytes(range(n)), new_ecb)
        self.lost = asyncio.Event()
        self.queues = {}
        self.rx = {}
        self.wire = []
        self.commands = []
        self.e2e = 0

    def _send(self, uuid, message, stream=None):
        if stream is not None:
            out = bytearray(len(message) + OVERHEAD)
            if not self.pump.seal(stream, message, len(message), out):
                return
            message = bytes(out)
        self.e2e = (self.e2e + 1) & 0xFF
        for frame in pp.split(message, self.e2e, self.frame_size):
            self.wire.append(frame)
            self.queues.setdefault(uuid, asyncio.Queue()).put_nowait(frame)

    async def read(self, uuid):
        if uuid == SERIAL_UUID:
            return PUMP_ID.hex().encode()
        if uuid != pp.STATUS_UUID or self.pump.state != ss.OPEN:
            return b""
        out = bytearray(len(STATUS) + OVERHEAD)
        n = self.pump.seal(STREAMS[uuid], STATUS, len(STATUS), out)
        frame = pp.split(bytes(out[:n]), 7, 244)[0]
        self.wire.append(frame)
        return frame

    async def write(self, uuid, frame):
        self.wire.append(bytes(frame))
        msg = self.rx.setdefault(uuid, pp.Reassembler()).feed(frame)
        if msg is None:
            return
        buf = bytearray(msg)
        if uuid == ss.SESSION_UUID:
            self._send(uuid, self.pump.handshake(buf, len(buf)))
        elif uuid == pp.COMMAND_UUID:
            code = self.pump.open_command(buf, len(buf))
            self.commands.append(bytes(buf[: self.pump.n]) if not code else code)
            answer = bytes((buf[0] if not code else 0,)) + (code or 0).to_bytes(2, "little") + bytes(4)
            self._send(uuid, answer, None if code == E_INSECURE else STREAMS[uuid])
        elif uuid == pp.RACP_UUID:
            code = self.pump.open(STREAMS[uuid], buf, len(buf))
            assert code == 0
            for record in RECORDS:
                self._send(pp.HISTORY_UUID, record, STREAMS[pp.HISTORY_UUID])
            self._send(uuid, bytes((racp.OP_RESPONSE, 0, buf[0], racp.RC_SUCCESS)), STREAMS[uuid])

    async def subscribe(self, uuid):
        self.queues.setdefault(uuid, asyncio.Queue())

    async def receive(self, uuid, timeout_s):
        return await asyncio.wait_for(self.queues.setdefault(uuid, asyncio.Queue()).get(), timeout_s)

    def pending(self, uuid):
        q = self.queues.setdefault(uuid, asyncio.Queue())
        return [q.get_nowait() for _ in range(q.qsize())]

    async def close(self):
        self.lost.set()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_a_monitor_session_reads_the_status_sealed_on_the_wire_and_plain_above():
    async def body():
        seam = PumpSeam()
        gatt = await secure(seam, Session(KM, ROLE_MONITOR, pump_id=PUMP_ID))
        plain = await gatt.read(pp.STATUS_UUID)
        assert pp.Reassembler.unframe(plain) == STATUS
        assert not any(STATUS[4:20] in frame for frame in seam.wire)  # the wire never carried the payload
        assert seam.pump.role == ROLE_MONITOR

    run(body())


def test_history_records_and_the_racp_answer_come_through_the_seal():
    async def body():
        gatt = await secure(PumpSeam(), Session(KM, ROLE_MONITOR))
        records, answer, refused = await read_history(RawHistory(gatt), timeout_s=1)
        assert records == RECORDS and refused == 0
        assert answer["code"] == racp.RC_SUCCESS

    run(body())


class RawHistory:
    """read_history's seam with the record decoder's CRC check out of the way: the fake pump's records are bytes."""

    def __init__(self, gatt):
        self.gatt = gatt
        self.frame_size = gatt.frame_size

    def __getattr__(self, name):
        return getattr(self.gatt, name)


@pytest.fixture(autouse=True)
def _raw_records(monkeypatch):
    monkeypatch.setattr(pp, "decode_history", bytes)


def test_a_clinician_command_goes_sealed_and_its_answer_comes_back_opened():
    async def body():
        seam = PumpSeam()
        gatt = await secure(seam, Session(KC, ROLE_CLINICIAN))
        client = PumpClient(gatt, KC, counter=5)
        resp = await client.command("suspend", {})
        assert resp["result"] == 0 and resp["opcode"] == pp.OP_SUSPEND
        assert seam.commands == [pp.command_message(KC, ROLE_CLINICIAN, 5, pp.OP_SUSPEND, b"")]

    run(body())


def test_a_monitor_session_commands_nothing():
    async def body():
        seam = PumpSeam()
        gatt = await secure(seam, Session(KM, ROLE_MONITOR))
        client = PumpClient(gatt, KC, counter=5)
        with pytest.raises(Exception) as e:
            await client.command("suspend", {})
        assert getattr(e.value, "code", None) == E_ROLE
        assert seam.commands == [E_ROLE]

    run(body())


@pytest.mark.parametrize("key, pump_id, words", [
    (KP, None, "500 authentication failed"),  # the patient's key offered as the monitor's
    (KM, b"\x01\x02", "another pump"),  # the pump's serial number says another pump
])
def test_a_refused_handshake_is_one_line_naming_the_reason(key, pump_id, words):
    async def body():
        with pytest.raises(LinkError) as e:
            await open_session(PumpSeam(), Session(key, ROLE_MONITOR, pump_id=pump_id))
        assert words in str(e.value) and "\n" not in str(e.value)

    run(body())


def test_a_pump_without_the_monitor_key_refuses_with_504():
    async def body():
        doc = {k: v for k, v in key_doc().items() if k != "monitor"}
        with pytest.raises(LinkError) as e:
            await open_session(PumpSeam(doc), Session(KM, ROLE_MONITOR))
        assert "504" in str(e.value)

    run(body())


def test_a_forged_or_replayed_notification_is_dropped_and_counted_a_repeat_is_dropped_only():
    async def body():
        seam = PumpSeam()
        gatt = await secure(seam, Session(KM, ROLE_MONITOR))
        sent = len(seam.wire)
        seam._send(pp.STATUS_UUID, STATUS, STREAMS[pp.STATUS_UUID])
        first = seam.wire[sent:]  # the frames of the first sealed status (seq 1)
        second = bytes(reversed(STATUS))
        sent = len(seam.wire)
        seam._send(pp.STATUS_UUID, second, STREAMS[pp.STATUS_UUID])
        latest = seam.wire[sent:]
        assert pp.Reassembler.unframe(await gatt.receive(pp.STATUS_UUID, 1)) == STATUS
        assert pp.Reassembler.unframe(await gatt.receive(pp.STATUS_UUID, 1)) == second
        queue = seam.queues[pp.STATUS_UUID]
        for frame in latest + first:  # the latest again (a repeat: the same message), then the older one (a replay)
            queue.put_nowait(frame)
        forged = bytearray(pp.Reassembler.unframe(first))
        forged[-1] ^= 1
        forged[1] = 9  # a later counter, a wrong tag
        for frame in pp.split(bytes(forged), 3, 20):
            queue.put_nowait(frame)
        with pytest.raises(asyncio.TimeoutError):
            await gatt.receive(pp.STATUS_UUID, 0.2)
        assert gatt.refused == 2 and "500" in gatt.refusal  # the replay (501) and the forgery (500); not the repeat

    run(body())


def test_a_read_without_a_value_is_a_link_error():
    async def body():
        seam = PumpSeam()
        gatt = SecureGatt(seam, Session(KM, ROLE_MONITOR))  # no handshake: the pump sends nothing
        with pytest.raises(LinkError, match="no session"):
            await gatt.read(pp.STATUS_UUID)

    run(body())


def test_a_seam_without_the_session_characteristic_is_named():
    class Old(PumpSeam):
        async def subscribe(self, uuid):
            raise KeyError(uuid)

    async def body():
        with pytest.raises(LinkError, match="no Session characteristic"):
            await open_session(Old(), Session(KM, ROLE_MONITOR))

    run(body())

