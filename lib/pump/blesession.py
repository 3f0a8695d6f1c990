"""The secure session on the pump's Session characteristic (docs/ble.md "Secure session"): handshake messages
reassembled from written frames, answered through PumpSession (pump.session) as indications, the deadline by which a
central must open a session or be disconnected, and the failed attempts counted and logged (at most one log record
per connection, so a central cannot flush the event log with bad handshakes). The IRQ handler only copies
(`written`); the BLE task runs `run(now)`."""

from pump import events
from pump.compat import const, ticks_add, ticks_diff
from pump.errors import E_INSECURE
from pump.frames import DONE, MORE, Reassembler
from pump.session import HELLO, OPEN, RESULT, PumpSession, result

DEADLINE_MS = const(5000)  # SESSION_DEADLINE_MS: a central with no open session by then is disconnected
PAIRING_MS = const(60000)  # a passkey being typed on the phone: the deadline moves this far from the passkey action
MAX_FAILURES = const(3)  # failed handshakes one connection may make before it is disconnected
_MAX_MSG = const(64)  # the longest handshake message either way (a CHALLENGE: 36 + a 16-byte id)


class SessionPoint:
    """The Session characteristic of one PumpService: `session` (PumpSession) for the link in progress; `out` the
    Session characteristic's outbox entry (unsealed: the handshake is in clear); `log(code, a, b)` the event log;
    `clock.ticks_ms()` the time the deadline runs on (the board's; a simulator running pump time faster than real
    time sets a real-time one, since a central lives in real time)."""

    def __init__(self, keys, pump_id, urandom, new_ecb, out, log, clock):
        self.session = PumpSession(keys, pump_id, urandom, new_ecb)
        self.clock = clock
        self.out = out
        self._log = log
        self._rx = Reassembler(_MAX_MSG)
        self.failures = 0  # failed handshakes since boot (all connections)
        self.opened = 0  # sessions opened since boot: a new one means the central needs everything afresh
        self.reset()

    def reset(self):
        """A new link (or none): the session closed, the deadline from now."""
        now = self.clock.ticks_ms()
        self.session.close()
        self._rx.reset()
        self._ready = False
        self._err = 0
        self.deadline = ticks_add(now, DEADLINE_MS)
        self.link_failures = 0  # on this connection
        self._role = 0
        self._logged = False

    def extend(self, ms):
        """A pairing is in progress (a person typing the passkey): the deadline is at least `ms` from now."""
        later = ticks_add(self.clock.ticks_ms(), ms)
        if ticks_diff(later, self.deadline) > 0:
            self.deadline = later

    @property
    def open(self):
        return self.session.state == OPEN

    # ---- IRQ: copy what arrived ----
    def written(self, data):
        if self._ready:
            return  # one handshake message at a time: the central waits for each answer
        r = self._rx.feed(data)
        if r == DONE:
            self._ready = True
        elif r != MORE:
            self._err = r

    # ---- the BLE task ----
    def run(self, frame_size):
        """Answer a handshake message written; False when the link must be dropped (no session by the deadline, or
        too many failed handshakes)."""
        if self.out.pending():
            return True  # the previous answer is still going out
        if self.link_failures >= MAX_FAILURES:
            return False  # once the last refusal went out
        if self._err:
            self._fail(self._err, 0)
            self.out.queue(result(self._err), 3, frame_size, True)
            self._err = 0
        elif self._ready:
            rx = self._rx
            reply = self.session.handshake(rx.buf, rx.n)
            self._ready = False
            if rx.n > 2 and rx.buf[0] == HELLO:
                self._role = rx.buf[2]  # the role asked, for the log of a refusal (a CONFIRM names none)
            role = self._role
            if reply[0] == RESULT:
                code = reply[1] | reply[2] << 8
                if code:
                    self._fail(code, role)
                else:
                    self.opened += 1
                    self._log(events.SESSION_OPENED, self.session.role, 0)
            self.out.queue(reply, len(reply), frame_size, True)
        return self.open or ticks_diff(self.clock.ticks_ms(), self.deadline) < 0

    def wait_ms(self):
        """ms until the deadline, -1 once a session is open."""
        return -1 if self.open else max(ticks_diff(self.deadline, self.clock.ticks_ms()), 0)

    def _fail(self, code, role):
        self.failures += 1
        self.link_failures += 1
        if not self._logged:
            self._logged = True
            self._log(events.SESSION_FAILED, code, role)

    def expired(self):
        """The deadline passed without a session: counted and logged as a failure (E_INSECURE)."""
        self._fail(E_INSECURE, 0)
