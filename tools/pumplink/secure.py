"""The secure session on a GATT seam (tools/pumplink/ble.py): open it over the Session characteristic, then a seam
that seals what the client writes and opens what the pump sends, so the programmer, the telemetry client and the
history reader keep speaking plain frames (docs/ble.md, "Secure session" and "Session on the air").

    session = Session.from_keys("monitor", "keys.json")      # tools/pumplink/session.py
    gatt = await secure(gatt, session)                         # the handshake; LinkError when refused

A sealed message travels framed like any other (pump.frames): the seam reassembles the pump's frames, opens the
message on its characteristic's stream and hands the payload on as one plain frame with the pump's own E2E counter;
a message that fails to open (tag, replay, length) is dropped and counted in `refused`, never passed on. The same
sealed message met again (a value read that was also notified) is the message already opened: handed on again from
memory when read, dropped when notified twice, neither counted as refused.
"""

import asyncio
import collections

from tools.pumplink import proto as pp
from tools.pumplink.link import LinkError
from tools.pumplink.session import (SESSION_UUID, STREAM_ALARM, STREAM_COMMAND, STREAM_HISTORY, STREAM_RACP,
                                    STREAM_STATUS, Session, ahandshake)

from pump.errors import MESSAGES, PumpError
from pump.frames import MAX_FRAME, MIN_FRAME

# Device Information's Serial Number (0x2A25): the pump's unique id in hex, readable without a session; the 128-bit
# form, which bleak (an int would be a handle there) and the Bumble central both take
SERIAL_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
HANDSHAKE_TIMEOUT_S = 5.0
# the pump characteristic -> the stream its messages are sealed on (pump.seal: the XX of its UUID 7b0d00XX)
STREAMS = {pp.STATUS_UUID: STREAM_STATUS, pp.ALARM_UUID: STREAM_ALARM, pp.RACP_UUID: STREAM_RACP,
           pp.HISTORY_UUID: STREAM_HISTORY, pp.COMMAND_UUID: STREAM_COMMAND}


class SessionRefused(LinkError):
    """The pump refused the session (wrong key, no key for the role, another pump): trying again will not help."""


def refusal_text(code):
    """`505 link not secure enough`: a pump code with its meaning."""
    return "%d %s" % (code, MESSAGES.get(code, "refused"))


async def pump_id(gatt):
    """The pump's unique id (bytes) from its Serial Number characteristic; None where it is missing or not hex (the
    session then binds to the id the pump proves it holds the key with)."""
    try:
        text = (await gatt.read(SERIAL_UUID)).decode()
        return bytes.fromhex(text) or None
    except Exception:  # noqa: BLE001 - KeyError (Bumble), BleakError, a value that is not hex: no id to expect
        return None


async def open_session(gatt, session, timeout_s=HANDSHAKE_TIMEOUT_S):
    """Run the handshake of `session` (tools.pumplink.session.Session) over the Session characteristic of a
    connected seam; LinkError naming the reason when the pump lacks it, refuses, or does not answer."""
    try:
        await gatt.subscribe(SESSION_UUID)
    except KeyError:
        raise LinkError("the pump has no Session characteristic (firmware without the secure session)") from None
    gatt.pending(SESSION_UUID)
    rx = pp.Reassembler(64)
    e2e = [0]

    async def exchange(message):
        e2e[0] = (e2e[0] + 1) & 0xFF
        for frame in pp.split(message, e2e[0], _frame_size(gatt)):
            await gatt.write(SESSION_UUID, frame)
        while True:
            try:
                frame = await gatt.receive(SESSION_UUID, timeout_s)
            except asyncio.TimeoutError:
                raise LinkError("session: no answer from the pump within %g s" % timeout_s) from None
            try:
                answer = rx.feed(frame)
            except pp.FrameError as e:
                raise LinkError("session: answer refused (%s)" % e.reason) from None
            if answer is not None:
                return answer

    try:
        await ahandshake(session, exchange)
    except PumpError as e:
        raise SessionRefused("session refused: %s (%s)%s" % (refusal_text(e.code), e.detail, _hint(e.code))) from None
    return session


def _hint(code):
    if code == 500:
        return ": the key is not this pump's key for the role"
    if code == 504:
        return ": the pump has no key for the role"
    return ""


def _frame_size(gatt):
    return min(max(gatt.frame_size, MIN_FRAME), MAX_FRAME)


async def secure(gatt, session, timeout_s=HANDSHAKE_TIMEOUT_S):
    """Open `session` on `gatt` and return the sealing seam over it."""
    await open_session(gatt, session, timeout_s)
    return SecureGatt(gatt, session)


class SecureGatt:
    """The GATT seam with an open session: the same calls as the seam it wraps, plain frames above, sealed below."""

    def __init__(self, gatt, session):
        self.gatt = gatt
        self.session = session
        self.lost = getattr(gatt, "lost", None)
        self.name = getattr(gatt, "name", None)
        self.refused = 0  # sealed messages from the pump that failed to open (or to reassemble)
        self.refusal = ""
        self.on_refused = None  # called at once after each refusal (a client showing them)
        self._rx = {}  # uuid -> pp.Reassembler of the pump's sealed frames
        self._plain = {}  # uuid -> deque of plain frames not yet taken
        self._tx = {}  # uuid -> pp.Reassembler of the client's plain frames
        self._last = {}  # uuid -> (the last sealed message opened, its plain frame)

    @property
    def frame_size(self):
        return self.gatt.frame_size  # an MTU exchange changes it under the session

    @frame_size.setter
    def frame_size(self, size):
        self.gatt.frame_size = size

    # ---- from the pump ----
    def _open(self, uuid, message, e2e, again=False):
        """The plain frame of a sealed message, or None (counted) when it fails to open. The last message opened on
        the characteristic, met again, gives its frame once more (`again`: a read) or None (a repeated update)."""
        last = self._last.get(uuid)
        if last is not None and last[0] == message:
            return last[1] if again else None
        try:
            payload = self.session.open(STREAMS[uuid], message)
        except PumpError as e:
            self._refuse("seal: %s" % refusal_text(e.code))
            return None
        plain = pp.split(payload, e2e, MAX_FRAME)[0]
        self._last[uuid] = (bytes(message), plain)
        return plain

    def _refuse(self, reason):
        self.refused += 1
        self.refusal = reason
        if self.on_refused is not None:
            self.on_refused()

    def _take(self, uuid, frame):
        """Feed one frame the pump sent; the plain frame when it completes a message that opens."""
        rx = self._rx.setdefault(uuid, pp.Reassembler(4096))
        try:
            message = rx.feed(frame)
        except pp.FrameError as e:
            self._refuse(e.reason)
            return None
        return None if message is None else self._open(uuid, message, rx.e2e)

    async def read(self, uuid):
        value = await self.gatt.read(uuid)
        if uuid not in STREAMS:
            return value
        if not value:
            raise LinkError("%s: the pump sent no value (no session open)" % uuid)
        try:
            message = pp.Reassembler.unframe(value)
        except pp.FrameError as e:
            raise LinkError("%s: the value read is not a whole message (%s)" % (uuid, e.reason)) from None
        plain = self._open(uuid, message, value[1], again=True)
        if plain is None:
            raise LinkError("%s: the value read failed its seal (%s)" % (uuid, self.refusal))
        return plain

    async def receive(self, uuid, timeout_s):
        if uuid not in STREAMS:
            return await self.gatt.receive(uuid, timeout_s)
        queue = self._plain.setdefault(uuid, collections.deque())
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while not queue:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            plain = self._take(uuid, await self.gatt.receive(uuid, left))
            if plain is not None:
                queue.append(plain)
        return queue.popleft()

    def pending(self, uuid):
        if uuid not in STREAMS:
            return self.gatt.pending(uuid)
        queue = self._plain.setdefault(uuid, collections.deque())
        for frame in self.gatt.pending(uuid):
            plain = self._take(uuid, frame)
            if plain is not None:
                queue.append(plain)
        out = list(queue)
        queue.clear()
        return out

    # ---- to the pump ----
    async def write(self, uuid, data):
        if uuid not in STREAMS:
            await self.gatt.write(uuid, data)
            return
        tx = self._tx.setdefault(uuid, pp.Reassembler())
        message = tx.feed(data)  # the client's own frames: a FrameError here is the client's bug
        if message is not None:
            sealed = self.session.seal(STREAMS[uuid], message)
            for frame in pp.split(sealed, tx.e2e, _frame_size(self.gatt)):
                await self.gatt.write(uuid, frame)

    async def subscribe(self, uuid):
        await self.gatt.subscribe(uuid)

    async def close(self):
        await self.gatt.close()


class SessionTransport:
    """A transport (scan, open) whose every connection carries an open session for `role` with its 32-byte `key`,
    bound to the pump's own id (its Serial Number); the seams it opens are SecureGatt."""

    def __init__(self, transport, key, role, timeout_s=HANDSHAKE_TIMEOUT_S):
        self.transport = transport
        self.key = key
        self.role = role
        self.timeout_s = timeout_s

    async def scan(self, timeout_s=5.0):
        return await self.transport.scan(timeout_s)

    async def open(self, device=None, timeout_s=10.0):
        hold = getattr(self.transport, "hold", None)  # a simulated pump keeps its time still meanwhile
        if hold is not None:
            hold(True)
        try:
            return await self._open(device, timeout_s)
        finally:
            if hold is not None:
                hold(False)

    async def _open(self, device, timeout_s):
        gatt = await self.transport.open(device, timeout_s)
        try:
            return await secure(gatt, Session(self.key, self.role, pump_id=await pump_id(gatt)), self.timeout_s)
        except BaseException:
            try:
                await gatt.close()
            except Exception:  # noqa: BLE001 - the link may be gone already; the refusal is what matters
                pass
            raise
