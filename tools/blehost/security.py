"""Pairing and bonding of the shim: SMP settings from `BLE.config`, passkey actions and bond storage as IRQs.

As on a board running NimBLE, the stack keeps no keys of its own: every bond is read with `_IRQ_GET_SECRET` and
written with `_IRQ_SET_SECRET` (sec_type 2: peer keys, keyed by the peer's address type and address; sec_type 10:
our identity resolving key), so bonds survive exactly as long as the application's secret store. Only a pairing
both sides agreed to bond is stored. The link's encryption state is reported with `_IRQ_ENCRYPTION_UPDATE`
(encrypted, authenticated = MITM-protected pairing, bonded, key size) after pairing and after re-encryption with a
stored bond.
"""

import asyncio
import json
import os

from bumble import pairing
from bumble.hci import Address
from bumble.keys import KeyStore, PairingKeys

from tools.blehost.constants import (
    IRQ_ENCRYPTION_UPDATE,
    IRQ_GET_SECRET,
    IRQ_PASSKEY_ACTION,
    IRQ_SET_SECRET,
)


PASSKEY_ACTION_INPUT = 2
PASSKEY_ACTION_DISPLAY = 3
PASSKEY_ACTION_NUMERIC_COMPARISON = 4

SEC_TYPE_PEER = 2
SEC_TYPE_OUR_IRK = 10
_IRK_KEY = b"irk"


def peer_key(name):
    """Secret key of a peer: address type then the address, most significant byte first (as `addr` in IRQs)."""
    address = Address(name)
    return bytes([address.address_type]) + bytes(address)[::-1]


class SecretKeyStore(KeyStore):
    """A Bumble key store with no storage of its own: it asks the application through GET/SET_SECRET."""

    def __init__(self, irq, may_bond):
        self._irq = irq
        self._may_bond = may_bond  # name -> did this pairing agree to bond?
        self.seen = {}  # name -> the keys last read or stored (the link's MITM level on re-encryption)

    def _decode(self, blob):
        doc = json.loads(bytes(blob).decode())
        keys = PairingKeys.from_dict(doc["keys"])
        self.seen[doc["addr"]] = keys
        return doc["addr"], keys

    async def get(self, name):
        blob = self._irq(IRQ_GET_SECRET, (SEC_TYPE_PEER, 0, memoryview(peer_key(name))))
        return self._decode(blob)[1] if blob else None

    async def get_all(self):
        found = []
        while True:
            blob = self._irq(IRQ_GET_SECRET, (SEC_TYPE_PEER, len(found), None))
            if not blob:
                return found
            found.append(self._decode(blob))

    async def update(self, name, keys):
        self.seen[name] = keys
        if not self._may_bond(name):
            return
        blob = json.dumps({"addr": name, "keys": keys.to_dict()}).encode()
        self._irq(IRQ_SET_SECRET, (SEC_TYPE_PEER, memoryview(peer_key(name)), memoryview(blob)))

    async def delete(self, name):
        self.seen.pop(name, None)
        self._irq(IRQ_SET_SECRET, (SEC_TYPE_PEER, memoryview(peer_key(name)), None))

    def identity_key(self):
        """Our IRK from the secret store, or a new one stored there (as NimBLE does at start-up)."""
        irk = self._irq(IRQ_GET_SECRET, (SEC_TYPE_OUR_IRK, 0, memoryview(_IRK_KEY)))
        if irk and len(irk) == 16:
            return bytes(irk)
        irk = os.urandom(16)
        self._irq(IRQ_SET_SECRET, (SEC_TYPE_OUR_IRK, memoryview(_IRK_KEY), memoryview(irk)))
        return irk


class _Delegate(pairing.PairingDelegate):
    """Pairing questions of one connection, answered by the application through PASSKEY_ACTION / gap_passkey."""

    def __init__(self, security, connection, io):
        super().__init__(io_capability=pairing.PairingDelegate.IoCapability(io))
        self._security = security
        self._handle = connection.handle

    async def compare_numbers(self, number, digits):
        return bool(await self._security.ask(self._handle, PASSKEY_ACTION_NUMERIC_COMPARISON, number))

    async def get_number(self):
        return await self._security.ask(self._handle, PASSKEY_ACTION_INPUT, 0)

    async def generate_passkey(self):
        return await self._security.ask(self._handle, PASSKEY_ACTION_DISPLAY, 0)


class _Refusing(pairing.PairingDelegate):
    """A stack without pairing: every request is answered "pairing not supported"."""

    async def accept(self):
        return False


class Security:
    """SMP configuration and per-connection security state of one shim BLE object."""

    def __init__(self, device, irq, pairing=True):
        self.device = device
        self._irq = irq
        self.pairing = pairing  # False (rp2-btstack): every pairing request refused
        self.bond = False
        self.mitm = False
        self.le_secure = False
        self.io = 3  # NoInputNoOutput
        self.keystore = SecretKeyStore(irq, self._may_bond)
        self._sessions = {}  # connection handle -> SMP session in progress
        self._mitm_links = set()  # connection handles encrypted with a MITM-protected key
        self._answers = {}  # (connection handle, action) -> future awaiting gap_passkey
        device.keystore = self.keystore
        device.pairing_config_factory = self._pairing_config

    def _pairing_config(self, connection):
        delegate = _Delegate(self, connection, self.io) if self.pairing else _Refusing()
        return pairing.PairingConfig(sc=self.le_secure, mitm=self.mitm, bonding=self.bond, delegate=delegate)

    def _may_bond(self, name):
        for session in self._sessions.values():
            peer = session.peer_bd_addr or session.connection.peer_address
            if str(peer) == name:
                return session.bonding
        return False

    def attach(self, connection):
        """Follow one new connection's pairing and encryption."""
        handle = connection.handle
        connection.on(connection.EVENT_PAIRING_START, lambda: self._on_pairing_start(connection))
        connection.on(connection.EVENT_PAIRING, lambda keys: self._on_pairing(connection, keys))
        connection.on(connection.EVENT_PAIRING_FAILURE, lambda reason: self._on_pairing_failure(connection))
        connection.on(connection.EVENT_CONNECTION_ENCRYPTION_CHANGE, lambda: self._on_encryption(connection))
        connection.on(connection.EVENT_DISCONNECTION, lambda reason: self._forget(handle))

    def is_mitm(self, connection):
        return bool(connection.encryption) and connection.handle in self._mitm_links

    def _on_pairing_start(self, connection):
        self._sessions[connection.handle] = self.device.smp_manager.sessions.get(connection.handle)

    def _on_pairing(self, connection, keys):
        session = self._sessions.pop(connection.handle, None)
        ltk = keys.ltk or keys.ltk_peripheral
        mitm = bool(ltk and ltk.authenticated)
        self._set_mitm(connection, mitm)
        self._report(connection, mitm, bool(session and session.bonding))

    def _on_pairing_failure(self, connection):
        self._sessions.pop(connection.handle, None)
        self._report(connection, self.is_mitm(connection), False)

    def _on_encryption(self, connection):
        if connection.handle in self._sessions:
            return  # a pairing is in progress: it reports when it completes
        keys = self.keystore.seen.get(str(connection.peer_address))
        ltk = keys and (keys.ltk or keys.ltk_peripheral)
        mitm = bool(ltk and ltk.authenticated)
        self._set_mitm(connection, mitm)
        self._report(connection, mitm, keys is not None)

    def _set_mitm(self, connection, mitm):
        if mitm:
            self._mitm_links.add(connection.handle)
        else:
            self._mitm_links.discard(connection.handle)

    def _report(self, connection, mitm, bonded):
        encrypted = bool(connection.encryption)
        # a v1 encryption-change event carries no key size: SMP always settles on 16 bytes here
        size = (connection.encryption_key_size or 16) if encrypted else 0
        self._irq(IRQ_ENCRYPTION_UPDATE, (connection.handle, encrypted, encrypted and mitm, bonded, size))

    def _forget(self, handle):
        self._sessions.pop(handle, None)
        self._mitm_links.discard(handle)
        for key in [k for k in self._answers if k[0] == handle]:
            self._answers.pop(key).cancel()

    # ---- passkey actions ----
    async def ask(self, handle, action, passkey):
        future = asyncio.get_running_loop().create_future()
        self._answers[(handle, action)] = future
        self._irq(IRQ_PASSKEY_ACTION, (handle, action, passkey))  # the handler may answer at once
        try:
            return await future
        finally:
            self._answers.pop((handle, action), None)

    def answer(self, handle, action, passkey):
        future = self._answers.get((handle, action))
        if future is None or future.done():
            return False
        future.set_result(passkey)
        return True
