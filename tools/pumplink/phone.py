"""The pump's app on a laptop: its BLE protocol (tools.pumplink.proto) through a Bumble central (tools.blehost.central):
subscribe, pair with the passkey the pump displays, read status, send authenticated commands, fetch history.

    phone = await Phone.connect("PUMP-1A2B", keys={ROLE_CLINICIAN: key_bytes})   # central: in-process or usb:0
    await phone.pair_mitm(lambda: int(input("passkey shown by the pump: ")))
    answer = await phone.send(ROLE_CLINICIAN, OP_SUSPEND)
"""

import asyncio

from tools.blehost.central import IO_KEYBOARD_DISPLAY, Central
from tools.pumplink import proto as pp


class Phone:
    """The clinician's or patient's app: one `Link` to the pump, the protocol on top."""

    def __init__(self, link, keys=None):
        self.link = link
        self.keys = keys or {}  # role -> 32-byte HMAC key
        self.counter = {pp.ROLE_CLINICIAN: 0, pp.ROLE_PATIENT: 0}  # the last counter used per role
        self._e2e = 0

    @classmethod
    async def connect(cls, name, keys=None, central=None):
        """Scan for the pump advertising `name`, connect, discover and subscribe."""
        central = central or await Central().start()
        link = await central.connect(await central.scan(name=name))
        await link.discover()
        phone = cls(link, keys)
        await phone.subscribe()
        return phone

    async def subscribe(self):
        """As the app does on connecting: status and history notifications, the rest as indications."""
        for uuid in (pp.STATUS_UUID, pp.HISTORY_UUID):
            await self.link.subscribe(uuid)
        for uuid in (pp.ALARM_UUID, pp.COMMAND_UUID, pp.RACP_UUID):
            await self.link.subscribe(uuid, indicate=True)

    async def pair_mitm(self, passkey):
        """Passkey entry: the pump displays, the person types it (`passkey()`, may be a coroutine) on the phone
        (MITM-protected); returns the first status the pump then notifies (so what arrives next is news)."""
        await self.link.pair(mitm=True, io=IO_KEYBOARD_DISPLAY, passkey=passkey)
        return pp.decode_status(await self.message(pp.STATUS_UUID))

    async def status(self):
        return pp.decode_status(pp.Reassembler.unframe(await self.link.read(pp.STATUS_UUID)))

    async def message(self, uuid, timeout_s=2.0):
        """The next complete message sent on a characteristic (notified or indicated frames); a message whose
        first fragments were missed is skipped, as an app does."""
        rx = pp.Reassembler(4096)
        while True:
            _kind, frame = await self.link.next_update(uuid, timeout_s)
            try:
                payload = rx.feed(frame)
            except pp.FrameError:
                continue
            if payload is not None:
                return payload

    def forget(self, uuid):
        """Drop what already arrived on a characteristic: the next message is a new one."""
        self.link.pending(uuid)

    async def send(self, role, opcode, payload=b"", counter=None, key=None, tamper=None):
        """One command (frames written to the command point); returns the pump's decoded answer. `tamper(message)`
        alters the signed message before it is framed (the frames themselves stay well-formed)."""
        if counter is None:
            self.counter[role] += 1
            counter = self.counter[role]
        e2e = self._next_e2e()
        frames = pp.encode_command(key or self.keys[role], role, counter, opcode, payload, e2e, self.frame_size)
        if tamper is not None:
            frames = pp.split(tamper(pp.Reassembler.unframe(frames)), e2e, self.frame_size)
        await self.write_frames(pp.COMMAND_UUID, frames)
        return pp.decode_response(await self.message(pp.COMMAND_UUID))

    async def write_frames(self, uuid, frames):
        for frame in frames:
            await self.link.write(uuid, frame)

    async def history(self, request):
        """A RACP request: (records notified, the final RACP answer)."""
        await self.write_frames(pp.RACP_UUID, pp.split(request, self._next_e2e(), self.frame_size))
        return await self.history_answer()

    async def history_answer(self):
        """Records notified until the final RACP answer arrives, and that answer (decoded)."""
        records = []
        answer = asyncio.ensure_future(self.message(pp.RACP_UUID, timeout_s=5))
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
                records.append(pp.decode_history(payload))
        records.extend(pp.decode_history(p) for p in self._drain_history(history))
        return records, pp.decode_racp(answer.result())

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
