"""The pump's BLE service on the recording fake radio (board.sim.radio) around a Rig (`Bench`), with a phone's view of
what was sent: the secure session opened on the Session characteristic, messages reassembled and opened per handle,
commands sealed and written in frames and their answers decoded, RACP requests. `profile`: the radio's stack profile
(board.sim.radio.PROFILES)."""

import struct

from board.sim import radio as bluetooth
from pump import session as ss
from pump.bleservice import PumpService
from pump.cmdauth import ROLE_CLINICIAN, ROLE_MONITOR, ROLE_PATIENT, parse_keys
from pump.commands import RESPONSE, RESPONSE_LEN
from pump.frames import DONE, MORE, Reassembler, split
from pump.seal import STREAM_ALARM, STREAM_COMMAND, STREAM_HISTORY, STREAM_RACP, STREAM_STATUS
from pump.telemetry import STATUS
from support.aes import new_ecb
from support.keys import KC, KEY_DOC, KM, KP, command
from support.rig import PB, Rig, rx

ROLE_KEYS = {ROLE_CLINICIAN: KC, ROLE_PATIENT: KP, ROLE_MONITOR: KM}

def exchange(radio, svc, msg, run):
    """Write one handshake message to `svc`'s Session characteristic on the fake radio; `run()` runs the service
    once. The pump's answer (bytes)."""
    before = len(radio.of(svc.h_session, "indicated"))
    for frame in split(msg, 1):
        radio.write(svc.h_session, frame)
    r = Reassembler(64)
    for _ in range(20):
        run()
        frames = radio.of(svc.h_session, "indicated")[before:]
        if svc.outbox.inflight is not None:
            radio.indicate_done()
        before += len(frames)
        for f in frames:
            if r.feed(f) == DONE:
                return bytes(r.buf[: r.n])
    raise AssertionError("no answer on the Session characteristic")


def handshake(radio, svc, run, role=ROLE_CLINICIAN, key=None):
    """A central's session with the service on the fake radio (role's test key unless `key`), open."""
    c = ss.CentralSession(key or ROLE_KEYS[role], role, new_ecb)
    challenge = exchange(radio, svc, c.hello(bytes(range(0x10, 0x20))), run)
    c.established(exchange(radio, svc, c.confirm(challenge), run))
    return c


class Bench:
    """A PumpService on the fake radio around a Rig; `phone` side helpers decode what the service sent."""

    def __init__(self, keys=KEY_DOC, rig=None, storage=None, profile=None, role=ROLE_CLINICIAN):
        self.rig = rig if rig is not None else Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB),
                                                   storage=storage)
        self.profile = profile
        self.printed = []
        self.counters = {ROLE_CLINICIAN: 0, ROLE_PATIENT: 0}
        self.keys = keys
        self.role = role
        self.central = None
        self.boot_service()

    def boot_service(self):
        rig = self.rig
        self.radio = bluetooth.BLE(self.profile)
        seed = [0]

        def urandom(n):  # a different nonce at every handshake
            seed[0] += 1
            return bytes((seed[0] * 31 + i) & 0xFF for i in range(n))

        self.svc = PumpService(self.radio, bluetooth, rig.pump, rig.storage, rig.hw.uid_hex, "9.9.9", rig.clock,
                               keys=parse_keys(self.keys) if self.keys else None, urandom=urandom,
                               out=self.printed.append, model="sim", new_ecb=new_ecb)
        self._opened = {}
        return self.svc

    def streams(self):
        svc = self.svc
        return {svc.h_status: STREAM_STATUS, svc.h_alarm: STREAM_ALARM, svc.h_racp: STREAM_RACP,
                svc.h_history: STREAM_HISTORY, svc.h_command: STREAM_COMMAND}

    def handshake_message(self, msg):
        """Write one handshake message to the Session characteristic; the pump's answer (bytes)."""
        return exchange(self.radio, self.svc, msg, self.run)

    def open_session(self, role=None, key=None):
        """The handshake as a central does it (role: the Bench's); the CentralSession, open."""
        c = handshake(self.radio, self.svc, self.run, role or self.role, key)
        self.central = c
        self.settle()
        return c

    @property
    def now(self):
        return self.rig.clock.ticks_ms()

    def run(self):
        return self.svc.run(self.now)

    def settle(self, confirm=True):
        """Run the service until it has nothing more to send at this instant, confirming each indication."""
        for _ in range(200):
            self.run()
            if self.svc.outbox.inflight is None:
                return
            if not confirm:
                return
            self.radio.indicate_done()
        raise AssertionError("the service never settled")

    def connect(self, authenticated=True, mtu=None, session=True):
        """Connect (pair where the stack pairs) and open a session in the Bench's role."""
        self.radio.connect()
        if mtu:
            self.radio.exchange_mtu(mtu)
        if self.radio.pairing:
            self.radio.encrypt(authenticated=authenticated)
        self.settle()
        if session:
            self.open_session()

    def raw_messages(self, handle, kind="notified"):
        """The complete messages sent on a handle, as they went (sealed), in order."""
        r = Reassembler(4096)
        out = []
        for frame in self.radio.of(handle, kind):
            status = r.feed(frame)
            assert status in (MORE, DONE), r.error
            if status == DONE:
                out.append(bytes(r.buf[: r.n]))
        return out

    def messages(self, handle, kind="notified"):
        """Payloads of the complete messages sent on a handle, in order: opened in the session (each once), or as
        they went out when they are not sealed (a refusal without a session)."""
        raw = self.raw_messages(handle, kind)
        done = self._opened.setdefault((handle, kind), [])
        stream = self.streams().get(handle)
        for msg in raw[len(done):]:
            if stream is not None and self.central is not None and msg[:1] == bytes((stream,)) and len(msg) > 21:
                try:
                    msg = self.central.open(stream, msg)
                except Exception:  # noqa: BLE001 - not sealed in this session: kept as it went
                    pass
            done.append(msg)
        return list(done)

    def status(self):
        return struct.unpack(STATUS, self.messages(self.svc.h_status)[-1])

    def write_frames(self, handle, frames):
        for f in frames:
            self.radio.write(handle, f)

    def send(self, role, opcode, params=b"", counter=None, key=None, frame_size=20):
        """One command written in frames; returns the decoded answer (opcode, result, counter, rest)."""
        if counter is None:
            self.counters[role] += 1
            counter = self.counters[role]
        key = key if key is not None else (KC if role == ROLE_CLINICIAN else KP)
        c = self.central
        if c is not None and c.state == ss.OPEN and c.role != role and role in ROLE_KEYS and self.keys:
            self.open_session(role)  # a command goes in a session of its own role (the app of that person)
        before = len(self.messages(self.svc.h_command, "indicated"))
        msg = command(key, role, counter, opcode, params)
        if self.central is not None and self.central.state == ss.OPEN:
            msg = self.central.seal(STREAM_COMMAND, msg)
        self.write_frames(self.svc.h_command, split(msg, counter & 0xFF, frame_size))
        self.settle()
        answers = self.messages(self.svc.h_command, "indicated")
        assert len(answers) == before + 1, answers[before:]
        return self.answer(answers[-1])

    @staticmethod
    def answer(payload):
        opcode, result, counter = struct.unpack(RESPONSE, payload[:RESPONSE_LEN])
        return opcode, result, counter, payload[RESPONSE_LEN:]

    def last_answer(self):
        return self.answer(self.messages(self.svc.h_command, "indicated")[-1])

    def racp(self, payload):
        before = len(self.messages(self.svc.h_racp, "indicated"))
        if self.central is not None and self.central.state == ss.OPEN:
            payload = self.central.seal(STREAM_RACP, payload)
        self.write_frames(self.svc.h_racp, split(payload, 1))
        for _ in range(100):  # a transfer runs over several connection intervals
            self.settle()
            if self.svc.history.records is None and self.svc.outbox.inflight is None:
                break
            self.rig.clock.t_ms += self.svc.interval_ms
        return self.messages(self.svc.h_racp, "indicated")[before:]


def snapshot(bench):
    """What a refused command must leave as it was: therapy, suspend, reservoir, boluses, priming, alarms, stores."""
    pump = bench.rig.pump
    return (pump.therapy.to_doc() if pump.therapy else None, pump.suspended, pump.reservoir.remaining_nl,
            len(pump.plan.boluses), pump.plan.prime_nl_left, pump.safety.alarms.active_bitmap,
            bench.rig.blobs("prog", "state"))
