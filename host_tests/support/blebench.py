"""The pump's BLE service on the recording fake radio (board.sim.radio) around a Rig (`Bench`), with a phone's view of
what was sent: messages reassembled per handle, commands written in frames and their answers decoded, RACP requests."""

import struct

from board.sim import radio as bluetooth
from pump.bleservice import PumpService
from pump.cmdauth import ROLE_CLINICIAN, ROLE_PATIENT, parse_keys
from pump.commands import RESPONSE, RESPONSE_LEN
from pump.frames import DONE, MORE, Reassembler, split
from pump.telemetry import STATUS
from support.keys import KC, KEY_DOC, KP, command
from support.rig import PB, Rig, rx

class Bench:
    """A PumpService on the fake radio around a Rig; `phone` side helpers decode what the service sent."""

    def __init__(self, keys=KEY_DOC, rig=None, storage=None):
        self.rig = rig if rig is not None else Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB),
                                                   storage=storage)
        self.radio = bluetooth.BLE()
        self.printed = []
        self.counters = {ROLE_CLINICIAN: 0, ROLE_PATIENT: 0}
        self.keys = keys
        self.boot_service()

    def boot_service(self):
        rig = self.rig
        self.radio = bluetooth.BLE()
        self.svc = PumpService(self.radio, bluetooth, rig.pump, rig.storage, rig.hw.uid_hex, "9.9.9", rig.clock,
                               keys=parse_keys(self.keys) if self.keys else None,
                               urandom=lambda n: bytes(range(1, n + 1)), out=self.printed.append, model="sim")
        return self.svc

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

    def connect(self, authenticated=True, mtu=None):
        self.radio.connect()
        if mtu:
            self.radio.exchange_mtu(mtu)
        self.radio.encrypt(authenticated=authenticated)
        self.settle()

    def messages(self, handle, kind="notified"):
        """Payloads of the complete messages sent on a handle, in order."""
        r = Reassembler(4096)
        out = []
        for frame in self.radio.of(handle, kind):
            status = r.feed(frame)
            assert status in (MORE, DONE), r.error
            if status == DONE:
                out.append(bytes(r.buf[: r.n]))
        return out

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
        before = len(self.messages(self.svc.h_command, "indicated"))
        self.write_frames(self.svc.h_command, split(command(key, role, counter, opcode, params), counter, frame_size))
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
