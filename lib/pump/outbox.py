"""The BLE service's indication outbox: one entry per indicated characteristic (alarm, command answers, RACP), each
holding one message framed into preallocated frames, sent one frame per indication; one indication in flight at a
time (the stack confirms each), the highest-priority entry first. An entry with a stream seals its message in the
secure session (pump.session) before framing it; without an open session only a refusal goes out, in clear."""

from pump.frames import MAX_FRAME, Framer
from pump.seal import OVERHEAD


class Indication:
    """One characteristic's outgoing message: its value `handle`, the `framer` holding the frames, how many `frames`
    the message has and how many were `sent`, and its end-to-end message `counter` (one per message). With `session`
    (pump.session.PumpSession) and `stream`, messages are sealed on that stream. A `readable` entry (the alarm) also
    keeps its message whole in one frame, written as the characteristic's value once its last frame is confirmed:
    the indications go through the value one frame at a time, and a central reading it must find the whole message,
    not the last fragment."""

    def __init__(self, handle, size, session=None, stream=0, readable=False):
        self.handle = handle
        self.session = session
        self.stream = stream
        self._sealed = bytearray(size + OVERHEAD) if session is not None else None
        self.framer = Framer(size + OVERHEAD if session is not None else size)
        self.readable = Framer(size + OVERHEAD if session is not None else size) if readable else None
        self.read_due = False  # the readable value is still to be written
        self.frames = 0
        self.sent = 0
        self.counter = 0

    def pending(self):
        """True while frames of its message are still to go out."""
        return self.sent < self.frames

    def queue(self, msg, n, frame_size, clear=False):
        """msg[:n] becomes the next message (the counter moves on), framed for `frame_size`; sent from its start.
        Sealed when the entry has a session: False (nothing queued) when that session is not open, unless `clear`
        (a refusal that tells nothing: it goes out as it is)."""
        if self.session is not None and not clear:
            n = self.session.seal(self.stream, msg, n, self._sealed)
            if not n:
                return False
            msg = self._sealed
        self.counter = (self.counter + 1) & 0xFF
        self.frames = self.framer.pack(msg, n, self.counter, frame_size)
        self.sent = 0
        if self.readable is not None:
            self.readable.pack(msg, n, self.counter, MAX_FRAME)
            self.read_due = True
        return True


class Outbox:
    """The entries in priority order and the one whose frame is in flight (None: the stack has none of ours)."""

    def __init__(self, entries):
        self.entries = entries
        self.inflight = None

    def clear(self):
        """A new link: nothing in flight, nothing left to send (the counters go on)."""
        self.inflight = None
        for e in self.entries:
            e.frames = e.sent = 0
            e.read_due = False

    def confirmed(self, status):
        """The stack's answer to the indication in flight (IRQ side): not confirmed (status != 0) drops the rest of
        that message."""
        e = self.inflight
        self.inflight = None
        if e is not None and status:
            e.sent = e.frames

    def send(self, ble, conn):
        """Indicate the next frame of the highest-priority pending message, unless one is in flight."""
        if self.inflight is not None:
            return
        for e in self.entries:
            if e.sent >= e.frames:
                if e.read_due:  # the whole message, once its indications are over
                    e.read_due = False
                    ble.gatts_write(e.handle, e.readable.views[0])
                continue
            ble.gatts_write(e.handle, e.framer.views[e.sent])
            try:
                ble.gatts_indicate(conn, e.handle)
            except OSError:
                return  # tried again at the next run
            e.sent += 1
            self.inflight = e
            return
