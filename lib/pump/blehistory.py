"""History over BLE: Record Access Control Point requests (pump.racp) answered from the event log on the RACP
indication, and the records they ask for streamed as notifications on the history characteristic, a few frames per
connection interval (docs/ble.md). Inside a secure session (`session`, pump.session.PumpSession) requests arrive sealed
on the RACP stream and records leave sealed on the history stream; without one every request is refused
(RC_INSECURE) and nothing is sent. The IRQ handler only copies what was written (`written`); the BLE task runs
`request()` and `stream()`."""

import struct

from pump import racp
from pump.compat import const
from pump.errors import PumpError
from pump.eventlog import RECORD_SIZE, encode
from pump.frames import DONE, MORE, Framer, Reassembler
from pump.seal import OVERHEAD, STREAM_HISTORY, STREAM_RACP

_BURST = const(4)  # history frames per connection interval


class History:
    """RACP and history for one pump's event log `log`; `out` is the RACP characteristic's outbox entry, `session`
    the secure session both are sealed in."""

    def __init__(self, log, out, session):
        self.log = log
        self.out = out
        self.session = session
        self._rx = Reassembler(16 + OVERHEAD)
        self._msg = bytearray(6)
        self._rec = bytearray(RECORD_SIZE)
        self._rec_body = memoryview(self._rec)[:20]
        self._rec_sealed = bytearray(RECORD_SIZE + OVERHEAD)
        self._rec_tx = Framer(RECORD_SIZE + OVERHEAD)
        self.counter = 0  # message counter of the history records (the outbox keeps the RACP answers')
        self.reset()

    def reset(self):
        """A new link: no request, no transfer."""
        self._rx.reset()
        self._ready = False
        self._err = 0
        self.records = None  # the transfer in progress: the log's records still to send, None when none
        self._n = 0
        self._k = self._i = 0

    # ---- IRQ: copy what arrived ----
    def written(self, data, secure):
        """A client wrote `data` to the RACP characteristic; `secure`: in an open session (and over the link security
        the stack offers)."""
        if self._ready:
            self._err = racp.RC_NOT_COMPLETED
            return
        r = self._rx.feed(data)  # one answer per request: a refusal waits for its last frame
        if r == DONE:
            if secure:
                self._ready = True
            else:
                self._err = racp.RC_INSECURE
        elif r != MORE:
            self._err = racp.RC_BAD_FRAME

    # ---- the BLE task ----
    def request(self, frame_size):
        """Answer the request written, or start its transfer (not while an answer is still going out)."""
        e = self.out
        if e.pending():
            return
        if self._err:
            self._respond(0, self._err, frame_size, True)
            self._err = 0
        elif self._ready:
            rx = self._rx
            log = self.log
            self._ready = False
            if self.session.open(STREAM_RACP, rx.buf, rx.n):  # forged, replayed or not sealed: refused in clear
                self._respond(0, racp.RC_INSECURE, frame_size, True)
                return
            op, code, first, last = racp.parse(rx.buf, self.session.n, log.first_seq, log.last_seq)
            if code:
                self._respond(op, code, frame_size)
            elif op == racp.OP_ABORT:
                self.records = None
                self._respond(op, racp.RC_SUCCESS, frame_size)
            elif self.records is not None:
                self._respond(op, racp.RC_NOT_COMPLETED, frame_size)
            elif op == racp.OP_COUNT:
                n = 0
                try:
                    for _ in log.read(first, last):
                        n += 1
                except PumpError:  # the log could not be read (storage failure)
                    self._respond(op, racp.RC_NOT_COMPLETED, frame_size)
                    return
                struct.pack_into(racp.NUMBER, self._msg, 0, racp.OP_NUMBER, racp.OPR_NULL, n)
                e.queue(self._msg, 6, frame_size)
            else:
                self.records = log.read(first, last)
                self._n = 0
                self._k = self._i = 0

    def _respond(self, op, code, frame_size, clear=False):
        """Queue a RACP answer, sealed; `clear`: a refusal (of a request that could not be opened) in clear."""
        struct.pack_into(racp.RESPONSE, self._msg, 0, racp.OP_RESPONSE, racp.OPR_NULL, op, code)
        self.out.queue(self._msg, 4, frame_size, clear)

    def stream(self, ble, conn, handle, frame_size):
        """Notify up to _BURST frames of the transfer on `handle`; its end is answered on RACP."""
        records = self.records
        if records is None or self.out.pending():
            return  # a RACP answer is going out first
        views = self._rec_tx.views
        for _ in range(_BURST):
            if self._i >= self._k:
                try:
                    rec = next(records)
                except StopIteration:
                    self.records = None
                    self._respond(racp.OP_REPORT, racp.RC_SUCCESS if self._n else racp.RC_NO_RECORDS, frame_size)
                    return
                except PumpError:  # the log could not be read (storage failure)
                    self.records = None
                    self._respond(racp.OP_REPORT, racp.RC_NOT_COMPLETED, frame_size)
                    return
                encode(self._rec, self._rec_body, rec[0], rec[1], rec[2], rec[3], rec[4])
                n = self.session.seal(STREAM_HISTORY, self._rec, RECORD_SIZE, self._rec_sealed)
                if not n:  # the session ended (or its counter ran out): the transfer ends with it
                    self.records = None
                    return
                self.counter = (self.counter + 1) & 0xFF
                self._k = self._rec_tx.pack(self._rec_sealed, n, self.counter, frame_size)
                views = self._rec_tx.views
                self._i = 0
                self._n += 1
            try:
                ble.gatts_notify(conn, handle, views[self._i])
            except OSError:
                return  # the stack's buffers are full: the same frame again next interval
            self._i += 1
