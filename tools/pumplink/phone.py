"""The pump's app on a laptop: its BLE protocol (tools.pumplink.proto) through a Bumble central (tools.blehost.central):
subscribe, open the secure session (tools.pumplink.session), pair with the passkey the pump displays where its stack
pairs, read status, send authenticated commands, fetch history; everything sealed and opened in the session.

    phone = await Phone.connect("PUMP-1A2B", keys={ROLE_CLINICIAN: key_bytes})   # central: in-process or usb:0
    await phone.open_session(ROLE_CLINICIAN)
    await phone.pair_mitm(lambda: int(input("passkey shown by the pump: ")))     # ESP32 (NimBLE) only
    answer = await phone.send(ROLE_CLINICIAN, OP_SUSPEND)
"""

import asyncio

from pump.errors import PumpError
from tools.blehost.central import IO_KEYBOARD_DISPLAY, Central
from tools.pumplink import proto as pp
from tools.pumplink import session as ps

STREAMS = {pp.STATUS_UUID: ps.STREAM_STATUS, pp.ALARM_UUID: ps.STREAM_ALARM, pp.RACP_UUID: ps.STREAM_RACP,
           pp.HISTORY_UUID: ps.STREAM_HISTORY, pp.COMMAND_UUID: ps.STREAM_COMMAND}


class Phone:
    """The clinician's or patient's app: one `Link` to the pump, the protocol on top."""

    def __init__(self, link, keys=None):
        self.link = link
        self.keys = keys or {}  # role -> 32-byte key (the command HMAC key, which also opens that role's session)
        self.counter = {pp.ROLE_CLINICIAN: 0, pp.ROLE_PATIENT: 0}  # the last counter used per role
        self.session = None  # tools.pumplink.session.Session once open
        self._e2e = 0
        self._last = {}  # stream -> (sealed, payload) of the last message opened: a read of the same is no replay

    @classmethod
    async def connect(cls, name, keys=None, central=None, role=None):
        """Scan for the pump advertising `name`, connect, discover and subscribe; with `role`, open its session."""
        central = central or await Central().start()
        link = await central.connect(await central.scan(name=name))
        await link.discover()
        phone = cls(link, keys)
        await phone.subscribe()
        if role is not None:
            await phone.open_session(role)
        return phone

    async def subscribe(self):
        """As the app does on connecting: status and history notifications, the rest as indications."""
        for uuid in (pp.STATUS_UUID, pp.HISTORY_UUID):
            await self.link.subscribe(uuid)
        for uuid in (pp.ALARM_UUID, pp.COMMAND_UUID, pp.RACP_UUID, ps.SESSION_UUID):
            await self.link.subscribe(uuid, indicate=True)

    async def exchange(self, msg):
        """One handshake message written to the Session characteristic; the pump's answer."""
        await self.write_frames(ps.SESSION_UUID, pp.split(msg, self._next_e2e(), self.frame_size))
        return await self.message(ps.SESSION_UUID, plain=True)

    async def open_session(self, role, key=None):
        """The handshake in `role` with its key (or `key`); what arrived before it is dropped. PumpError when the
        pump refuses."""
        session = ps.Session(key or self.keys[role], role)
        self.session = None
        self._last = {}
        for uuid in STREAMS:
            self.forget(uuid)
        await ps.ahandshake(session, self.exchange)
        self.session = session
        return session

    def open(self, uuid, msg):
        """The payload of a sealed message that came on `uuid` (PumpError when the session refuses it)."""
        stream = STREAMS[uuid]
        last = self._last.get(stream)
        if last is not None and last[0] == msg:  # the readable value of a message already notified
            return last[1]
        if self.session is None:
            raise PumpError(505, "no session")
        payload = self.session.open(stream, msg)
        self._last[stream] = (msg, payload)
        return payload

    async def pair_mitm(self, passkey):
        """Passkey entry: the pump displays, the person types it (`passkey()`, may be a coroutine) on the phone
        (MITM-protected); returns the first status the pump then notifies (so what arrives next is news)."""
        await self.link.pair(mitm=True, io=IO_KEYBOARD_DISPLAY, passkey=passkey)
        return pp.decode_status(await self.message(pp.STATUS_UUID))

    async def status(self):
        return pp.decode_status(self.open(pp.STATUS_UUID, pp.Reassembler.unframe(await self.link.read(pp.STATUS_UUID))))

    async def message(self, uuid, timeout_s=2.0, plain=False):
        """The next complete message sent on a characteristic (notified or indicated frames), opened in the session
        (`plain`: as it came); a message whose first fragments were missed is skipped, as an app does."""
        rx = pp.Reassembler(4096)
        while True:
            _kind, frame = await self.link.next_update(uuid, timeout_s)
            try:
                payload = rx.feed(frame)
            except pp.FrameError:
                continue
            if payload is not None:
                return payload if plain or uuid not in STREAMS else self.open(uuid, payload)

    def forget(self, uuid):
        """Drop what already arrived on a characteristic: the next message is a new one."""
        self.link.pending(uuid)

    async def send(self, role, opcode, payload=b"", counter=None, key=None, tamper=None):
        """One command (frames written to the command point); returns the pump's decoded answer. `tamper(message)`
        alters the signed message before it is framed (the frames themselves stay well-formed)."""
        if counter is None:
            self.counter[role] += 1
            counter = self.counter[role]
        if self.session is not None and self.session.role != role and role in self.keys:
            await self.open_session(role)  # a command goes in a session of its own role
        e2e = self._next_e2e()
        message = pp.Reassembler.unframe(pp.encode_command(key or self.keys[role], role, counter, opcode, payload))
        if tamper is not None:
            message = tamper(message)
        await self.write_frames(pp.COMMAND_UUID, self.sealed_frames(pp.COMMAND_UUID, message, e2e))
        return pp.decode_response(self.answer(pp.COMMAND_UUID, await self.message(pp.COMMAND_UUID, plain=True)))

    def answer(self, uuid, msg):
        """An answer on `uuid` opened in the session; as it came when it is a refusal the pump sent in clear (no
        session, or a message it could not open)."""
        try:
            return self.open(uuid, msg)
        except PumpError:
            return msg

    def sealed_frames(self, uuid, message, e2e=None):
        """The frames of `message` sealed on `uuid`'s stream (as it is, with no session open)."""
        if self.session is not None:
            message = self.session.seal(STREAMS[uuid], message)
        return pp.split(message, self._next_e2e() if e2e is None else e2e, self.frame_size)

    async def write_frames(self, uuid, frames):
        for frame in frames:
            await self.link.write(uuid, frame)

    async def history(self, request):
        """A RACP request: (records notified, the final RACP answer)."""
        await self.write_frames(pp.RACP_UUID, self.sealed_frames(pp.RACP_UUID, request))
        return await self.history_answer()

    async def history_answer(self):
        """Records notified until the final RACP answer arrives, and that answer (decoded)."""
        records = []
        answer = asyncio.ensure_future(self.message(pp.RACP_UUID, timeout_s=5, plain=True))
        notified = self.link.listen(pp.HISTORY_UUID)
        history = pp.Reassembler(64)
        while not answer.done():
            update = asyncio.ensure_future(notified.get())
            await asyncio.wait((answer, update), return_when=asyncio.FIRST_COMPLETED)
            if not update.done():
                update.cancel()
                continue
            payload = history.feed(update.result()[1])
            if payload is not None:
                records.append(pp.decode_history(self.open(pp.HISTORY_UUID, payload)))
        records.extend(pp.decode_history(self.open(pp.HISTORY_UUID, p)) for p in self._drain_history(history))
        return records, pp.decode_racp(self.answer(pp.RACP_UUID, answer.result()))

    def _drain_history(self, history):
        out = []
        for _kind, frame in self.link.pending(pp.HISTORY_UUID):
            payload = history.feed(frame)
            if payload is not None:
                out.append(payload)
        return out

    @property
    def frame_size(self):
        return self.link.connection.att_mtu - 3

    def _next_e2e(self):
        self._e2e = (self._e2e + 1) & 0xFF
        return self._e2e
