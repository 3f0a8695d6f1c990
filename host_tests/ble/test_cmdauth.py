"""BLE command authentication: keys.json, HMAC per role, strictly increasing counters saved power-fail safe, growing
lockout after repeated failures (logged)."""

import struct

from support.flash import FakeStorage, PowerCut
from pump import events as ev
from pump import alarms as al
from pump.cmdauth import (LOCKOUT_S, MAX_COUNTER_STEP, MAX_FAILURES, MAX_LEVEL, ROLE_CLINICIAN, ROLE_MONITOR,
                          ROLE_PATIENT, load_keys, parse_keys)
from pump.commands import OP_PATIENT_BOLUS, OP_PROGRAM, OP_SUSPEND, roles_for
from pump.compat import ticks_add
from pump.errors import (E_AUTH, E_AUTH_LOCKOUT, E_COUNTER_AHEAD, E_COUNTERS_LOST, E_MALFORMED, E_NO_KEYS, E_OPCODE,
                         E_REPLAY, E_ROLE, E_STORAGE, PumpError)
from pump.store import Store
from pump.hmac import hmac_sha256
from support import raises
from support.keys import KC, KEY_DOC, KP, Auth, command

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

def test_keys_document():
    keys = parse_keys(KEY_DOC)
    assert sorted(keys) == [ROLE_CLINICIAN, ROLE_PATIENT]
    assert keys[ROLE_CLINICIAN].digest(b"x") == hmac_sha256(KC, b"x")
    upper = {"clinician": KEY_DOC["clinician"].upper(), "patient": KEY_DOC["patient"]}
    assert parse_keys(upper)[ROLE_CLINICIAN].digest(b"x") == hmac_sha256(KC, b"x")
    bad = (
        [],
        {"clinician": KEY_DOC["clinician"]},
        {"clinician": KEY_DOC["clinician"], "patient": KEY_DOC["patient"], "nurse": KEY_DOC["patient"]},
        {"clinician": KEY_DOC["clinician"][:-1], "patient": KEY_DOC["patient"]},
        {"clinician": "zz" + KEY_DOC["clinician"][2:], "patient": KEY_DOC["patient"]},
        {"clinician": KEY_DOC["clinician"], "patient": 5},
        {"clinician": KEY_DOC["clinician"], "patient": KEY_DOC["clinician"]},
    )
    for doc in bad:
        with raises(PumpError) as e:
            parse_keys(doc)
        assert e.value.code == E_MALFORMED
        assert KEY_DOC["clinician"][2:] not in str(e.value) and KEY_DOC["patient"][2:] not in str(e.value)


def test_the_monitor_key_is_optional_distinct_and_commands_nothing():
    km = bytes(range(50, 82))
    doc = dict(KEY_DOC)
    doc["monitor"] = "".join("%02x" % b for b in km)
    keys = parse_keys(doc)
    assert sorted(keys) == [ROLE_CLINICIAN, ROLE_PATIENT, ROLE_MONITOR]
    assert keys[ROLE_MONITOR].digest(b"m") == hmac_sha256(km, b"m")
    for same in ("clinician", "patient"):
        doc["monitor"] = KEY_DOC[same]
        with raises(PumpError) as e:
            parse_keys(doc)
        assert e.value.detail == "keys: %s and monitor keys must differ" % same
    doc["monitor"] = "".join("%02x" % b for b in km)
    a = Auth(keys=doc)
    for opcode in range(1, 13):  # a command signed with the monitor's key is no command at all
        assert a.verify(command(km, ROLE_MONITOR, 1, opcode)) == E_AUTH
        a.auth.failures = 0
    assert a.auth.counters == [0, 0, 0] and a.storage.blobs == {}


def test_keys_file():
    import json
    import os

    assert load_keys("/nonexistent-dir/keys.json") is None
    path = "/tmp/pump-test-keys-%d.json" % os.getpid() if hasattr(os, "getpid") else "/tmp/pump-test-keys.json"
    try:
        with open(path, "w") as f:
            f.write(json.dumps(KEY_DOC))
        assert load_keys(path)[ROLE_PATIENT].digest(b"y") == hmac_sha256(KP, b"y")
        with open(path, "w") as f:
            f.write("{not json")
        with raises(PumpError) as e:
            load_keys(path)
        assert e.value.code == E_MALFORMED
    finally:
        os.remove(path)


def test_authentic_fresh_commands_pass_and_their_counters_are_saved():
    a = Auth()
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    assert a.auth.role == ROLE_CLINICIAN and a.auth.counter == 1
    assert a.verify(command(KC, ROLE_CLINICIAN, 1000, OP_PROGRAM, b"\x00{}")) == 0
    assert a.verify(command(KP, ROLE_PATIENT, 7, OP_PATIENT_BOLUS)) == 0  # each role has its own counter
    assert (a.auth.last_counter(ROLE_CLINICIAN), a.auth.last_counter(ROLE_PATIENT)) == (1000, 7)
    assert a.auth.last_counter(3) == 0
    a.boot()
    assert (a.auth.last_counter(ROLE_CLINICIAN), a.auth.last_counter(ROLE_PATIENT)) == (1000, 7)
    assert a.verify(command(KC, ROLE_CLINICIAN, 1000, OP_SUSPEND)) == E_REPLAY
    assert a.verify(command(KC, ROLE_CLINICIAN, 1000 + MAX_COUNTER_STEP, OP_SUSPEND)) == 0  # the largest step
    assert a.logged == []


def test_forged_replayed_reordered_and_wrong_role_commands_are_refused():
    a = Auth()
    first, second = command(KC, ROLE_CLINICIAN, 5, OP_SUSPEND), command(KC, ROLE_CLINICIAN, 6, OP_SUSPEND)
    assert a.verify(second) == 0
    assert a.verify(first) == E_REPLAY  # reordered: an older counter after a newer one
    assert a.verify(second) == E_REPLAY  # replayed
    a.auth.failures = 0
    forged = bytearray(command(KC, ROLE_CLINICIAN, 9, OP_SUSPEND))
    forged[2] ^= 1  # the counter changed after signing
    assert a.verify(forged) == E_AUTH
    assert a.verify(command(KP, ROLE_CLINICIAN, 9, OP_SUSPEND)) == E_AUTH  # signed with the patient's key
    assert a.verify(command(KC, 3, 9, OP_SUSPEND)) == E_AUTH  # no such role
    a.auth.failures = 0
    assert a.verify(command(KP, ROLE_PATIENT, 9, OP_SUSPEND)) == E_ROLE  # the patient may not suspend
    assert a.verify(command(KP, ROLE_PATIENT, 9, OP_PROGRAM, b"\x00{}")) == E_ROLE
    assert a.verify(command(KC, ROLE_CLINICIAN, 9, OP_PATIENT_BOLUS)) == E_ROLE  # nor the clinician bolus for them
    assert a.verify(command(KC, ROLE_CLINICIAN, 9, 200)) == E_OPCODE
    assert a.verify(command(KC, ROLE_CLINICIAN, 9, OP_SUSPEND)[:37]) == E_MALFORMED
    assert a.auth.last_counter(ROLE_CLINICIAN) == 6 and a.auth.last_counter(ROLE_PATIENT) == 0  # nothing used up
    assert a.verify(command(KC, ROLE_CLINICIAN, 9, OP_SUSPEND)) == 0


def test_no_keys_refuses_everything():
    a = Auth(keys=None)
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == E_NO_KEYS
    assert a.auth.failures == 0 and a.logged == []


def test_lockout_grows_is_logged_and_survives_a_reset():
    a = Auth()
    good = 1
    for level in range(1, MAX_LEVEL + 2):
        for _ in range(MAX_FAILURES):
            assert a.verify(command(KP, ROLE_CLINICIAN, 99, OP_SUSPEND)) == E_AUTH
        lock_s = LOCKOUT_S << (min(level, MAX_LEVEL) - 1)
        assert a.logged[-1] == (ev.AUTH_LOCKOUT, lock_s, min(level, MAX_LEVEL))
        good += 1
        assert a.verify(command(KC, ROLE_CLINICIAN, good, OP_SUSPEND)) == E_AUTH_LOCKOUT  # even a good command
        assert a.auth.locked_s(a.now) == lock_s
        assert a.verify(command(KC, ROLE_CLINICIAN, good, OP_SUSPEND), lock_s * 1000 - 1) == E_AUTH_LOCKOUT
        if level == 3:  # a reset starts the lockout again in full
            a.boot()
            assert a.auth.level == 3 and a.auth.locked_s(a.now) == lock_s
            assert a.verify(command(KC, ROLE_CLINICIAN, good, OP_SUSPEND), lock_s * 1000 - 1) == E_AUTH_LOCKOUT
        a.now = ticks_add(a.now, 1)
        assert a.auth.locked_s(a.now) == 0
    assert len(a.logged) == MAX_LEVEL + 1 and a.auth.level == MAX_LEVEL  # capped at 64 min
    assert a.verify(command(KC, ROLE_CLINICIAN, good, OP_SUSPEND)) == 0
    assert a.auth.level == 0  # a success resets the growth
    a.boot()
    assert a.auth.locked_s(a.now) == 0
    for _ in range(MAX_FAILURES - 1):  # failures short of the limit lock nothing
        assert a.verify(command(KC, ROLE_CLINICIAN, good, OP_SUSPEND)) == E_REPLAY
    assert a.verify(command(KC, ROLE_CLINICIAN, good + 1, OP_SUSPEND)) == 0
    assert a.auth.failures == 0


def test_a_power_cut_while_saving_the_counter_never_lets_a_command_run_twice():
    msg = command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)
    n = 0
    while True:
        a = Auth()
        assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
        a.storage.cut_after(n)
        try:
            code = a.verify(msg)
        except PowerCut:
            code = None
        a.storage.power_on()
        a.boot()
        if code == 0:  # the save completed: the command ran, and never runs again
            assert a.auth.last_counter(ROLE_CLINICIAN) == 2 and a.verify(msg) == E_REPLAY
            break
        # cut: the command did not run; the pump holds the old counter or the new one, nothing else
        assert code is None and a.auth.last_counter(ROLE_CLINICIAN) in (1, 2)
        n += 1
    assert n > 10


def test_a_storage_failure_refuses_the_command_and_keeps_the_counter():
    class Failing(FakeStorage):
        fail = False

        def write(self, name, data):
            if self.fail:
                raise OSError(5)
            FakeStorage.write(self, name, data)

    a = Auth(storage=Failing())
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    a.storage.fail = True
    assert a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)) == E_STORAGE
    assert a.auth.last_counter(ROLE_CLINICIAN) == 1
    a.storage.fail = False
    assert a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)) == 0


def test_a_refused_keys_document_says_which_field_and_why():
    hex_c, hex_p = KEY_DOC["clinician"], KEY_DOC["patient"]
    cases = (
        ([], "keys: must be an object"),
        ({"clinician": hex_c, "patient": hex_p, "nurse": hex_p}, "keys.nurse: unknown"),
        ({"patient": hex_p}, "keys.clinician: must be 64 hex digits"),
        ({"clinician": hex_c, "patient": hex_p[:-2]}, "keys.patient: must be 64 hex digits"),
        ({"clinician": hex_c, "patient": "zz" + hex_p[2:]}, "keys.patient: must be 64 hex digits"),
        ({"clinician": hex_c, "patient": hex_c}, "keys: clinician and patient keys must differ"),
    )
    for doc, detail in cases:
        with raises(PumpError) as e:
            parse_keys(doc)
        assert (e.value.code, e.value.detail) == (E_MALFORMED, detail), (doc, e.value.detail)


def test_a_keys_file_that_is_not_json_is_named_in_the_refusal():
    import os

    path = "/tmp/pump-test-badkeys-%d.json" % os.getpid() if hasattr(os, "getpid") else "/tmp/pump-test-badkeys.json"
    try:
        with open(path, "w") as f:
            f.write("[1,")
        with raises(PumpError) as e:
            load_keys(path)
        assert e.value.detail == "keys: %s is not valid JSON" % path
    finally:
        os.remove(path)


def test_the_counters_live_in_the_documented_two_slot_store():
    a = Auth()
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    assert a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)) == 0
    assert sorted(a.storage.blobs) == ["cmdauth.a", "cmdauth.b"]  # docs/ble.md: `cmdauth.a/b`


def test_role_and_counter_are_those_of_the_message_just_checked():
    a = Auth()
    assert a.verify(command(KP, ROLE_PATIENT, 7, OP_PATIENT_BOLUS)) == 0
    assert (a.auth.role, a.auth.counter) == (ROLE_PATIENT, 7)
    # a message too short for a counter: no counter read, and no role unless its second byte arrived
    buf = bytearray(command(KP, ROLE_PATIENT, 8, OP_PATIENT_BOLUS))
    for n, role in ((0, 0), (1, 0), (2, ROLE_PATIENT), (37, ROLE_PATIENT)):
        assert a.auth.verify(buf, n, a.now, roles_for) == E_MALFORMED
        assert (a.auth.role, a.auth.counter) == (role, 0), n
    # the service answers with the last counter of that role: 7 for the patient, 0 for no role
    assert a.auth.last_counter(a.auth.role) == 7


def test_repeated_wrong_role_or_replayed_commands_lock_out_too():
    for bad, code in ((command(KP, ROLE_PATIENT, 50, OP_SUSPEND), E_ROLE),
                      (command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND), E_REPLAY)):
        a = Auth()
        assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
        for _ in range(MAX_FAILURES):
            assert a.verify(bad, 1000) == code
        assert a.logged == [(ev.AUTH_LOCKOUT, LOCKOUT_S, 1)]
        assert a.auth.locked_s(a.now) == LOCKOUT_S  # from the fifth failure on
        assert a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND), LOCKOUT_S * 1000 - 1) == E_AUTH_LOCKOUT
        assert a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND), 1) == 0


def test_a_lockout_that_ended_stays_ended_across_the_ticks_wrap():
    half = 1 << 29  # ticks_diff is signed over 2**30: an instant this far after the end looks like one before it
    a = Auth()
    for _ in range(MAX_FAILURES):
        assert a.verify(command(KP, ROLE_CLINICIAN, 99, OP_SUSPEND)) == E_AUTH
    # no command for days after the 30 s lockout ended: the next one is not locked out
    a.now = ticks_add(ticks_add(a.now, half - 1), 60000)
    assert a.auth.locked_s(a.now) == 0
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    for _ in range(MAX_FAILURES):
        assert a.verify(command(KP, ROLE_CLINICIAN, 99, OP_SUSPEND)) == E_AUTH
    # seen ended at its very last millisecond, it never comes back, even a whole ticks period later
    a.now = ticks_add(a.now, LOCKOUT_S * 1000)
    assert a.auth.locked_s(a.now) == 0
    a.now = ticks_add(ticks_add(a.now, half - 1), half - 1000)
    assert a.auth.locked_s(a.now) == 0
    assert a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)) == 0


# ---- the counters' range and their loss (docs/ble.md, "Security") ----

KC2 = bytes(range(40, 72))  # keys provisioned again over USB
NEW_DOC = {"clinician": "".join("%02x" % b for b in KC2), "patient": KEY_DOC["patient"]}


def test_one_authentic_frame_cannot_use_up_its_roles_counters():
    a = Auth()
    assert a.verify(command(KC, ROLE_CLINICIAN, 5, OP_SUSPEND)) == 0
    for counter in (0xFFFFFFFF, 5 + MAX_COUNTER_STEP + 1):
        assert a.verify(command(KC, ROLE_CLINICIAN, counter, OP_SUSPEND)) == E_COUNTER_AHEAD
        assert a.auth.last_counter(ROLE_CLINICIAN) == 5  # nothing used up, nothing saved
    a.boot()
    assert a.auth.last_counter(ROLE_CLINICIAN) == 5
    assert a.verify(command(KC, ROLE_CLINICIAN, 6, OP_SUSPEND)) == 0  # the role still works
    assert a.verify(command(KC, ROLE_CLINICIAN, 6 + MAX_COUNTER_STEP, OP_SUSPEND)) == 0  # the bound itself is allowed
    assert a.verify(command(KP, ROLE_PATIENT, MAX_COUNTER_STEP + 1, OP_PATIENT_BOLUS)) == E_COUNTER_AHEAD  # from 0
    assert a.verify(command(KP, ROLE_PATIENT, MAX_COUNTER_STEP, OP_PATIENT_BOLUS)) == 0


def _lose_both_slots(a):
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    assert a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)) == 0
    for name in ("cmdauth.a", "cmdauth.b"):
        a.storage.corrupt(name, 5)  # a bit flip in each record's sequence number: the CRC fails


def test_lost_counters_refuse_every_command_with_an_alarm_until_new_keys():
    a = Auth()
    _lose_both_slots(a)
    a.boot()
    recorded = command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)  # recorded by someone before the loss
    assert a.verify(recorded) == E_COUNTERS_LOST  # not a replay: counters did not restart at 0
    assert a.verify(command(KP, ROLE_PATIENT, 1, OP_PATIENT_BOLUS)) == E_COUNTERS_LOST
    assert a.alarms.is_active(al.A_COMMAND_COUNTERS_LOST)
    assert (ev.STORE_CORRUPT, 2, ev.STORE_CMDAUTH) in a.logged
    assert a.auth.failures == 0  # the pump's own state, not an attack: no lockout
    a.boot()  # a reset with the same keys: still lost (it was saved)
    assert a.verify(recorded) == E_COUNTERS_LOST and a.alarms.is_active(al.A_COMMAND_COUNTERS_LOST)
    a.boot(NEW_DOC)  # keys.json provisioned again over USB: fresh counters under the new keys
    assert not a.alarms.is_active(al.A_COMMAND_COUNTERS_LOST)
    assert a.verify(recorded) == E_AUTH  # the old recording does not verify under the new keys
    assert a.verify(command(KC2, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    a.boot()
    assert a.verify(command(KC2, ROLE_CLINICIAN, 1, OP_SUSPEND)) == E_REPLAY and not a.auth.lost


def test_new_keys_at_the_very_next_boot_end_a_loss():
    a = Auth()
    _lose_both_slots(a)
    a.boot()
    assert a.auth.lost
    a.boot(NEW_DOC)
    assert not a.auth.lost and a.verify(command(KC2, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    assert a.logged.count((ev.STORE_CORRUPT, 2, ev.STORE_CMDAUTH)) == 1  # both slots rewritten at the loss


def test_lost_counters_without_keys_are_judged_by_the_keys_of_a_later_boot():
    a = Auth()
    _lose_both_slots(a)
    a.keys = None
    a.boot()
    assert a.auth.lost and a.verify(command(KC, ROLE_CLINICIAN, 3, OP_SUSPEND)) == E_NO_KEYS
    a.boot(KEY_DOC)  # the same keys back (a malformed keys.json repaired): still lost, not a blank any key ends
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == E_COUNTERS_LOST


def test_one_rotten_slot_or_a_storage_failure_is_a_loss_a_torn_one_is_not():
    a = Auth()
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    assert a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)) == 0
    a.storage.corrupt("cmdauth.a", 12)  # the older record rotted: the newer one may be stale as far as we know
    a.boot()
    assert a.auth.lost
    b = Auth()
    assert b.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    b.storage.cut_after(7)  # the second command's save cut by a power failure: it never ran
    try:
        b.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND))
    except PowerCut:
        pass
    b.storage.power_on()
    b.boot()
    assert not b.auth.lost and b.auth.last_counter(ROLE_CLINICIAN) == 1

    class Failing(FakeStorage):
        def read(self, name):
            raise OSError(5)

    c = Auth(storage=Failing())
    assert c.auth.lost and c.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == E_COUNTERS_LOST


def test_counters_are_carried_over_from_the_older_record_format():
    a = Auth()
    Store(a.storage, "cmdauth", 1, 9).save(struct.pack("<IIB", 700, 9, 0))  # what the firmware before wrote
    a.boot()
    assert not a.auth.lost
    assert (a.auth.last_counter(ROLE_CLINICIAN), a.auth.last_counter(ROLE_PATIENT)) == (700, 9)
    assert a.verify(command(KC, ROLE_CLINICIAN, 700, OP_SUSPEND)) == E_REPLAY
    assert a.verify(command(KC, ROLE_CLINICIAN, 701, OP_SUSPEND)) == 0
    a.boot()
    assert a.auth.last_counter(ROLE_CLINICIAN) == 701  # now in the new format, with the keys' fingerprint


def test_a_record_format_this_firmware_cannot_read_is_a_loss():
    a = Auth()
    assert a.verify(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)) == 0
    Store(a.storage, "cmdauth", 3, 32).save(bytes(20))  # left by a newer firmware (then downgraded)
    a.boot()
    assert a.auth.lost and a.verify(command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)) == E_COUNTERS_LOST
    c = Auth()
    Store(c.storage, "cmdauth", 2, 18).save(struct.pack("<IIBB8s", 1, 1, MAX_LEVEL + 1, 0, bytes(8)))
    c.boot()
    assert c.auth.lost  # a lockout level out of range: not a record of this firmware
