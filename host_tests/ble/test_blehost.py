"""The Bumble-backed `bluetooth` shim against MicroPython's documented API, with a Bumble central as the phone.

A small service written the way board code is (IRQ handler, handles from gatts_register_services, secrets kept by
the application) runs on the shim; everything crosses a real ATT/SMP stack over the in-process link.
"""

import asyncio
import socket

import pytest
from bumble import att
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.core import ProtocolError
from bumble.hci import HCI_PIN_OR_KEY_MISSING_ERROR, HCI_Error

from tools.blehost import bluetooth
from tools.blehost.central import IO_DISPLAY_YES_NO, Central

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_GATTS_READ_REQUEST = 4
_IRQ_GATTS_INDICATE_DONE = 20
_IRQ_MTU_EXCHANGED = 21
_IRQ_CONNECTION_UPDATE = 27
_IRQ_ENCRYPTION_UPDATE = 28
_IRQ_GET_SECRET = 29
_IRQ_SET_SECRET = 30
_IRQ_PASSKEY_ACTION = 31
_PASSKEY_ACTION_NUMERIC_COMPARISON = 4
_IO_DISPLAY_YESNO = 1

SERVICE = bluetooth.UUID("7a1e0001-52d4-4c3f-9b1e-5d2f7c1a0b01")
PLAIN = bluetooth.UUID(0x2A19)
DESCRIPTION = bluetooth.UUID(0x2901)
COMMAND = bluetooth.UUID("7a1e0002-52d4-4c3f-9b1e-5d2f7c1a0b01")
ENCRYPTED = bluetooth.UUID("7a1e0003-52d4-4c3f-9b1e-5d2f7c1a0b01")
AUTHENTICATED = bluetooth.UUID("7a1e0004-52d4-4c3f-9b1e-5d2f7c1a0b01")
F = bluetooth
NAME = b"bench-pump"


def adv_payload(name):
    return bytes([2, 0x01, 0x06, len(name) + 1, 0x09]) + name


class BoardService:
    """Board-style peripheral: all state through the IRQ handler; bonds in `secrets`, as a board keeps them."""

    def __init__(self, ble, secrets=None, accept_comparison=True, refuse_reads=0):
        self.ble = ble
        self.events = []
        self.secrets = {} if secrets is None else secrets
        self.accept_comparison = accept_comparison
        self.refuse_reads = refuse_reads
        ble.irq(self._irq)
        ble.active(True)
        ble.config(gap_name=NAME, bond=True, le_secure=True, mitm=True, io=_IO_DISPLAY_YESNO)
        ((self.plain, self.description, self.command, self.encrypted, self.authenticated),) = (
            ble.gatts_register_services([(SERVICE, [
                (PLAIN, F.FLAG_READ | F.FLAG_NOTIFY | F.FLAG_INDICATE, [(DESCRIPTION, F.FLAG_READ)]),
                (COMMAND, F.FLAG_WRITE | F.FLAG_WRITE_NO_RESPONSE),
                (ENCRYPTED, F.FLAG_READ | F.FLAG_READ_ENCRYPTED | F.FLAG_WRITE | F.FLAG_WRITE_ENCRYPTED),
                (AUTHENTICATED, F.FLAG_READ | F.FLAG_READ_AUTHENTICATED | F.FLAG_WRITE | F.FLAG_WRITE_AUTHENTICATED),
            ])]))
        ble.gatts_write(self.plain, b"\x64")
        ble.gatts_write(self.description, b"level")
        ble.gatts_write(self.encrypted, b"encrypted")
        ble.gatts_write(self.authenticated, b"authenticated")
        self.advertise()

    def advertise(self):
        self.ble.gap_advertise(20000, adv_payload(NAME))

    def of(self, event):
        return [data for e, data in self.events if e == event]

    def _irq(self, event, data):
        copy = tuple(bytes(x) if isinstance(x, memoryview) else x for x in data)
        self.events.append((event, copy))
        if event == _IRQ_CENTRAL_DISCONNECT:
            self.advertise()
        elif event == _IRQ_GATTS_READ_REQUEST:
            return self.refuse_reads
        elif event == _IRQ_GET_SECRET:
            sec_type, index, key = data
            if key is None:
                found = [v for (t, _k), v in sorted(self.secrets.items()) if t == sec_type]
                return found[index] if index < len(found) else None
            return self.secrets.get((sec_type, bytes(key)))
        elif event == _IRQ_SET_SECRET:
            sec_type, key, value = data
            if value is None:
                return self.secrets.pop((sec_type, bytes(key)), None) is not None
            self.secrets[(sec_type, bytes(key))] = bytes(value)
            return True
        elif event == _IRQ_PASSKEY_ACTION:
            conn, action, _passkey = data
            if action == _PASSKEY_ACTION_NUMERIC_COMPARISON:
                self.ble.gap_passkey(conn, action, 1 if self.accept_comparison else 0)
        return None


def run(coro_fn, timeout_s=20):
    async def main():
        return await asyncio.wait_for(coro_fn(), timeout_s)

    return asyncio.run(main())


async def connected(**service_args):
    ble = bluetooth.BLE()
    service = BoardService(ble, **service_args)
    phone = await Central().start()
    link = await phone.connect(await phone.scan(name=NAME.decode()))
    await link.discover()
    return ble, service, phone, link


async def settle():
    for _ in range(20):
        await asyncio.sleep(0)


def test_uuid_forms_compare_and_hash_like_micropython():
    u16 = bluetooth.UUID(0x2A19)
    assert u16 == bluetooth.UUID(0x2A19) == bluetooth.UUID(b"\x19\x2a") == bluetooth.UUID("2a19")
    assert hash(u16) == hash(bluetooth.UUID(0x2A19))
    assert u16 != bluetooth.UUID("00002a19-0000-1000-8000-00805f9b34fb")  # no widening, as on the boards
    u128 = bluetooth.UUID("7A1E0001-52D4-4C3F-9B1E-5D2F7C1A0B01")
    assert u128 == SERVICE and bytes(u128) == bytes.fromhex("7a1e000152d44c3f9b1e5d2f7c1a0b01")[::-1]
    assert bluetooth.UUID(memoryview(bytes(u128))) == u128
    assert repr(u16) == "UUID(0x2a19)" and repr(u128) == "UUID('7a1e0001-52d4-4c3f-9b1e-5d2f7c1a0b01')"
    assert len({u16, bluetooth.UUID(0x2A19), u128}) == 2
    for bad in (-1, 1 << 32, "12345", b"\x01\x02\x03"):
        with pytest.raises(ValueError):
            bluetooth.UUID(bad)
    assert bluetooth.FLAG_READ == 0x0002 and bluetooth.FLAG_WRITE_AUTHORIZED == 0x4000


def test_inactive_radio_refuses_gatt_calls_and_unknown_config():
    ble = bluetooth.BLE()
    assert ble.active() is False
    with pytest.raises(OSError):
        ble.gatts_register_services([])
    with pytest.raises(ValueError):
        ble.config(no_such_param=1)
    with pytest.raises(ValueError):
        ble.config("no_such_param")


def test_advertise_scan_by_name_and_the_raw_payload_arrives_unchanged():
    async def body():
        ble = bluetooth.BLE()
        BoardService(ble)
        phone = await Central().start()
        advert = await phone.scan(name=NAME.decode())
        assert advert.data == adv_payload(NAME) and advert.connectable
        addr_type, addr = ble.config("mac")
        assert addr_type == 1 and bytes(addr) == bytes(advert.address)[::-1]
        assert ble.config("addr_mode") == 1  # the virtual controller has no public address
        with pytest.raises(OSError):
            ble.gap_advertise(20000, bytes(32))  # a legacy payload holds 31 bytes
        ble.gap_advertise(None)
        await ble.settle()
        with pytest.raises(asyncio.TimeoutError):
            await phone.scan(name=NAME.decode(), timeout_s=0.2)

    run(body)


def test_handles_come_back_in_micropython_order_and_match_discovery():
    async def body():
        ble, service, phone, link = await connected()
        chars = {c.uuid: c for c in link.peer.services[-1].characteristics}
        assert [service.plain, service.command, service.encrypted, service.authenticated] == [
            chars[u.to_bumble()].handle for u in (PLAIN, COMMAND, ENCRYPTED, AUTHENTICATED)]
        # the descriptor follows its characteristic's value handle in the tuple, as it was defined
        assert service.description == chars[PLAIN.to_bumble()].get_descriptor(DESCRIPTION.to_bumble()).handle
        assert await link.read_handle(service.description) == b"level"
        assert await link.read(0x2A00) == NAME  # GAP device name from config(gap_name=)
        ble.config(gap_name="renamed")
        assert ble.config("gap_name") == b"renamed" and await link.read(0x2A00) == b"renamed"

    run(body)


def test_connect_read_and_read_request_irq_can_refuse():
    async def body():
        ble, service, phone, link = await connected()
        conn, addr_type, addr = service.of(_IRQ_CENTRAL_CONNECT)[0]
        assert conn == link.handle and addr_type == 1 and addr == bytes(phone.device.random_address)[::-1]
        assert await link.read(PLAIN) == b"\x64"
        assert service.of(_IRQ_GATTS_READ_REQUEST)[-1] == (conn, service.plain)
        service.refuse_reads = 0x80  # an application error code goes back to the phone as is
        with pytest.raises(att.ATT_Error) as refused:
            await link.read(PLAIN)
        assert refused.value.error_code == 0x80

    run(body)


def test_writes_truncate_to_the_buffer_grow_with_local_writes_and_append_mode_accumulates():
    async def body():
        ble, service, phone, link = await connected()
        await link.write(COMMAND, bytes(range(30)))
        assert ble.gatts_read(service.command) == bytes(range(20))  # default buffer: 20 bytes
        assert service.of(_IRQ_GATTS_WRITE)[-1] == (link.handle, service.command)
        ble.gatts_write(service.command, bytes(40))  # a local write grows the buffer
        await link.write(COMMAND, bytes(range(1, 31)))
        assert ble.gatts_read(service.command) == bytes(range(1, 31))
        ble.gatts_set_buffer(service.command, 8, True)
        ble.gatts_read(service.command)  # consumes what was there
        await link.write(COMMAND, b"abc", with_response=False)
        await link.write(COMMAND, b"defghij")
        assert ble.gatts_read(service.command) == b"abcdefgh"
        assert ble.gatts_read(service.command) == b""
        with pytest.raises(att.ATT_Error) as refused:
            await link.write(PLAIN, b"x")
        assert refused.value.error_code == att.ATT_WRITE_NOT_PERMITTED_ERROR
        with pytest.raises(att.ATT_Error) as refused:
            await link.read(COMMAND)
        assert refused.value.error_code == att.ATT_READ_NOT_PERMITTED_ERROR

    run(body)


def test_central_writes_a_long_value_in_fragments_of_the_link_payload():
    async def body():
        ble, service, phone, link = await connected()
        ble.gatts_set_buffer(service.command, 100, True)
        data = bytes(range(50))
        assert await link.write_fragments(COMMAND, data) == 3  # 20 + 20 + 10 at the default ATT MTU
        assert service.of(_IRQ_GATTS_WRITE) == [(link.handle, service.command)] * 3
        assert ble.gatts_read(service.command) == data
        assert await link.write_fragments(COMMAND, data, fragment=7, with_response=False) == 8
        await settle()
        assert ble.gatts_read(service.command) == data

    run(body)


def test_notify_indicate_and_mtu():
    async def body():
        ble, service, phone, link = await connected()
        unsubscribed = link.listen(PLAIN)
        ble.gatts_notify(link.handle, service.plain, b"unsolicited")  # sent whatever the CCCD says
        assert await asyncio.wait_for(unsubscribed.get(), 2) == ("notify", b"unsolicited")
        await link.subscribe(PLAIN)
        ble.gatts_write(service.plain, b"\x63", True)
        assert await link.next_update(PLAIN) == ("notify", b"\x63")
        ble.gatts_notify(link.handle, service.plain, bytes(range(40)))
        assert await link.next_update(PLAIN) == ("notify", bytes(range(20)))  # ATT MTU 23 - 3
        assert await link.exchange_mtu(100) == 100
        await settle()
        assert service.of(_IRQ_MTU_EXCHANGED) == [(link.handle, 100)]
        ble.gatts_notify(link.handle, service.plain, bytes(range(40)))
        assert await link.next_update(PLAIN) == ("notify", bytes(range(40)))
        await link.subscribe(PLAIN, indicate=True)
        ble.gatts_write(service.plain, b"\x62", True)
        assert await link.next_update(PLAIN) == ("indicate", b"\x62")
        ble.gatts_indicate(link.handle, service.plain)
        assert await link.next_update(PLAIN) == ("indicate", b"\x62")
        await settle()
        assert service.of(_IRQ_GATTS_INDICATE_DONE) == [(link.handle, service.plain, 0)] * 2
        with pytest.raises(OSError):
            ble.gatts_notify(link.handle + 1, service.plain)

    run(body)


def test_connection_parameter_update_reaches_the_irq_in_micropython_units():
    async def body():
        ble, service, phone, link = await connected()
        await link.connection.update_parameters(30, 50, 0, 4000)  # ms, as Bumble takes them
        await settle()
        conn, interval, latency, timeout, status = service.of(_IRQ_CONNECTION_UPDATE)[-1]
        assert (conn, latency, timeout, status) == (link.handle, 0, 400, 0)  # timeout in 10 ms units
        assert 24 <= interval <= 40  # 1.25 ms units, within what was asked

    run(body)


def test_unbonded_read_of_an_encrypted_characteristic_is_refused_until_just_works_pairing():
    async def body():
        ble, service, phone, link = await connected()
        for op in (link.read(ENCRYPTED), link.write(ENCRYPTED, b"x")):
            with pytest.raises(att.ATT_Error) as refused:
                await op
            assert refused.value.error_code == att.ATT_INSUFFICIENT_ENCRYPTION_ERROR
        assert service.of(_IRQ_GATTS_READ_REQUEST) == []  # refused by the stack, the application never asked
        await link.pair()  # Just Works: the phone cannot display or confirm
        await settle()
        assert service.of(_IRQ_ENCRYPTION_UPDATE) == [(link.handle, True, False, True, 16)]
        assert service.of(_IRQ_PASSKEY_ACTION) == []
        assert await link.read(ENCRYPTED) == b"encrypted"
        await link.write(ENCRYPTED, b"new")
        assert ble.gatts_read(service.encrypted) == b"new"

    run(body)


def test_just_works_bond_is_refused_on_authenticated_characteristics_numeric_comparison_succeeds():
    async def body():
        ble, service, phone, link = await connected()
        await link.pair()
        for op in (link.read(AUTHENTICATED), link.write(AUTHENTICATED, b"x")):
            with pytest.raises(att.ATT_Error) as refused:
                await op
            assert refused.value.error_code == att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR
        await link.disconnect()

        other = await Central().start()
        link = await other.connect(await other.scan(name=NAME.decode()))
        await link.discover()
        await link.pair(mitm=True, io=IO_DISPLAY_YES_NO)
        await settle()
        (conn, action, number), = service.of(_IRQ_PASSKEY_ACTION)
        assert (conn, action) == (link.handle, _PASSKEY_ACTION_NUMERIC_COMPARISON)
        assert link.delegate.shown == [number]  # both sides showed the same six digits
        assert service.of(_IRQ_ENCRYPTION_UPDATE)[-1] == (link.handle, True, True, True, 16)
        assert await link.read(AUTHENTICATED) == b"authenticated"
        await link.write(AUTHENTICATED, b"ok")
        assert ble.gatts_read(service.authenticated) == b"ok"

    run(body)


def test_numeric_comparison_rejected_by_the_peripheral_fails_the_pairing():
    async def body():
        ble, service, phone, link = await connected(accept_comparison=False)
        with pytest.raises(ProtocolError):
            await link.pair(mitm=True, io=IO_DISPLAY_YES_NO)
        await settle()
        assert not link.encrypted
        assert service.of(_IRQ_ENCRYPTION_UPDATE)[-1] == (link.handle, False, False, False, 0)
        assert [k for k in service.secrets if k[0] == 2] == []

    run(body)


def test_bond_survives_a_restart_only_through_the_applications_secrets():
    async def body():
        ble, service, phone, link = await connected()
        await link.pair(mitm=True, io=IO_DISPLAY_YES_NO)
        peer_keys = [k for k in service.secrets if k[0] == 2]
        assert peer_keys == [(2, bytes([1]) + bytes(phone.device.random_address)[::-1])]
        assert (10, b"irk") in service.secrets  # our identity key is the application's too
        await link.disconnect()
        await settle()
        assert service.of(_IRQ_CENTRAL_DISCONNECT)[-1][0] == link.handle

        # the board restarts: a new stack with the same address and the same stored secrets
        ble.active(False)
        await ble.settle()
        reborn = bluetooth.BLE(address=ble.address)
        restarted = BoardService(reborn, secrets=dict(service.secrets))
        link = await phone.connect(await phone.scan(name=NAME.decode()))
        await link.discover()
        await link.encrypt()  # no pairing: the phone's stored LTK against the one from GET_SECRET
        await settle()
        assert any(key == peer_keys[0][1] for _t, _i, key in restarted.of(_IRQ_GET_SECRET) if key)
        assert restarted.of(_IRQ_ENCRYPTION_UPDATE) == [(link.handle, True, True, True, 16)]
        assert restarted.of(_IRQ_PASSKEY_ACTION) == []
        assert await link.read(AUTHENTICATED) == b"authenticated"
        await link.disconnect()

        # a board that lost its secrets cannot encrypt with the old bond
        reborn.active(False)
        await reborn.settle()
        BoardService(bluetooth.BLE(address=ble.address), secrets={})
        link = await phone.connect(await phone.scan(name=NAME.decode()))
        with pytest.raises(HCI_Error) as refused:
            await link.encrypt()
        assert refused.value.error_code == HCI_PIN_OR_KEY_MISSING_ERROR and not link.encrypted

    run(body)


def test_pairing_without_bonding_stores_no_keys():
    async def body():
        ble, service, phone, link = await connected()
        await link.pair(bond=False)
        await settle()
        assert service.of(_IRQ_ENCRYPTION_UPDATE) == [(link.handle, True, False, False, 16)]
        assert [k for k in service.secrets if k[0] == 2] == []
        assert await link.read(ENCRYPTED) == b"encrypted"

    run(body)


def test_peripheral_asks_for_pairing_and_can_disconnect():
    async def body():
        ble, service, phone, link = await connected()
        ble.gap_pair(link.handle)
        await asyncio.wait_for(link.security_requests.get(), 2)  # the phone is asked to pair ...
        await link.pair()  # ... and does
        await settle()
        assert service.of(_IRQ_ENCRYPTION_UPDATE)[-1][1] is True
        assert ble.gap_disconnect(link.handle) is True
        assert await asyncio.wait_for(link.disconnected, 2) is not None
        await settle()
        assert service.of(_IRQ_CENTRAL_DISCONNECT)[-1][0] == link.handle
        assert ble.gap_disconnect(link.handle) is False

    run(body)


def test_an_exception_in_the_irq_handler_is_reported_and_the_stack_carries_on(capsys):
    async def body():
        ble, service, phone, link = await connected()

        def broken(event, data):
            raise RuntimeError("handler bug")

        ble.irq(broken)
        assert await link.read(PLAIN) == b"\x64"  # the read still completes
        assert [str(e) for e in ble.irq_errors] == ["handler bug"]

    run(body)
    assert "Unhandled exception in IRQ callback handler" in capsys.readouterr().err


def test_any_bumble_transport_reaches_a_controller_like_a_usb_dongle_would():
    """HCI over a loopback TCP socket to a controller (on its own link with the phone): what `usb:0` does."""

    async def body():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        air = LocalLink()
        hci = await open_transport("tcp-server:127.0.0.1:%d" % port)
        Controller("dongle", host_source=hci.source, host_sink=hci.sink, link=air)
        ble = bluetooth.BLE(transport="tcp-client:127.0.0.1:%d" % port)
        service = BoardService(ble)
        phone = await Central(link=air).start()
        link = await phone.connect(await phone.scan(name=NAME.decode()))
        await link.discover()
        await link.pair()
        assert await link.read(ENCRYPTED) == b"encrypted"
        assert service.of(_IRQ_ENCRYPTION_UPDATE) == [(link.handle, True, False, True, 16)]
        ble.active(False)
        await ble.settle()
        await hci.close()
        assert ble.op_errors == []

    run(body)
