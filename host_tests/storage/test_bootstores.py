"""Stored data and the boot: no stored value makes the boot fail, a lost or older store is an event and an alarm (never
a silent change of therapy), a power cut's torn slot is not mistaken for one, a first boot is not a loss, and the
stored program keeps running (with an alarm) when the drug library is missing or rejects it."""

import struct

from support.flash import PowerCut
from pump import alarms as al
from pump import events as ev
from pump.calendar import WALL_MAX_S, WALL_MIN_S
from pump.checkpoint import VERSION, pack, unpack
from pump.druglib import DrugLibrary
from pump.errors import E_CORRUPT, E_HARD_LIMIT, E_MALFORMED, E_RANGE, E_UNKNOWN_DRUG, PumpError
from pump.eventlog import MAX_SEQ, RECORD_SIZE, encode
from pump.store import Store
from pump.state import STATE_HELD, STATE_RUNNING
from pump.telemetry import STATUS, STATUS_LEN, Telemetry

from support import raises
from support.druglib import LIB, bounds
from support.plan import HOUR_MS, MONDAY_S
from support.rig import PB, Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_HIGH = al.PRIO_HIGH


def _active(pump):
    return [c for c in al.NAME if pump.safety.alarms.is_active(c)]


def _held(pump, code):
    return bool(pump.safety.holding & (1 << (code - 1)))


def _state(pump, now):
    buf = bytearray(STATUS_LEN)
    Telemetry(pump).status(buf, now)
    return struct.unpack(STATUS, buf)[2]


def _stepping(rig, ms=HOUR_MS):
    n = len(rig.step_times)
    rig.run(ms)
    return len(rig.step_times) - n


def _two_programs():
    """A pump programmed at 12 mg/day, then at 4 mg/day (the newer program store slot, prog.b)."""
    rig = Rig(fill_ul=20000, prescription=rx(12000, patient_bolus=PB))
    rig.run(HOUR_MS)
    rig.pump.program(rx(4000), now=rig.now)
    rig.run(HOUR_MS)
    assert rig.pump._prog_store.seq == 2 and rig.pump.therapy.daily[0][1] == 4000000
    return rig


# ---- item: the clock's valid range ----


def test_a_clock_outside_the_valid_range_is_refused_naming_the_range():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    before = rig.events()
    for bad in (0xFFFFFFFE, WALL_MAX_S + 1, WALL_MIN_S - 1, 0, -1, 4.0e9):
        with raises(PumpError) as e:
            pump.set_clock(bad, now=rig.now)
        assert e.value.code == E_RANGE
        assert e.value.detail == ("wall_s: %d not in 2024-01-01 00:00 .. 2099-12-31 23:59:59 (757382400..3155759999 "
                                  "s since 2000-01-01)" % (bad,))
    for bad in (True, 1.5e9 + 0.5, "1000000000"):  # not a whole number: refused for its type, never read as one
        with raises(PumpError) as e:
            pump.set_clock(bad, now=rig.now)
        assert e.value.code == E_MALFORMED and e.value.detail.startswith("wall_s: must be an integer, got ")
    assert rig.events() == before and rig.rtc.now_ms() // 1000 == MONDAY_S + 8 * 3600  # nothing changed
    for good in (WALL_MIN_S, WALL_MAX_S - 86400):
        pump.set_clock(good, now=rig.now)
        assert rig.rtc.now_ms() == good * 1000
    rig.run(HOUR_MS)
    rig.boot()
    assert rig.pump.plan.running and _stepping(rig) > 0


def test_a_stored_clock_beyond_the_range_never_stops_the_boot():
    # the reported brick: a time near the top of u32 in the newest checkpoint (and in the RTC) made the next
    # checkpoint fail, so every boot died in the restore
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    c = rig.pump._state_store.load(unpack)
    c.wall_s = 0xFFFFFFFE
    rig.pump._state_store.save(pack(c))  # a valid CRC: only its range tells
    rig.rtc.set_ms(0xFFFFFFFE * 1000)
    rig.clock.t_ms += 60000
    pump = rig.boot()
    assert pump.wall_s() < WALL_MAX_S  # the older checkpoint's time, the RTC set back to it
    assert rig.rtc.now_ms() // 1000 <= MONDAY_S + 10 * 3600
    assert (ev.CLOCK_INVALID, 0x7FFFFFFF, 0) in rig.events()
    assert (ev.STORE_CORRUPT, 1, ev.STORE_STATE) in rig.events()
    assert al.A_STORE_CORRUPT in _active(pump)  # a value out of its range is a storage fault, medium
    assert pump.plan.running and _stepping(rig, 2 * HOUR_MS) > 0  # and the checkpoints go on
    rig.boot()
    assert rig.pump.plan.running and al.A_STATE_LOST not in _active(rig.pump)


def test_an_rtc_beyond_the_range_alone_keeps_the_checkpoints_time():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    rig.pump.checkpoint(rig.now)
    saved = rig.pump.c.wall_s
    rig.rtc.set_ms((WALL_MAX_S + 1) * 1000)
    pump = rig.boot()
    assert pump.wall_s() == saved and rig.rtc.now_ms() == saved * 1000
    # i32 arg; the clock is not known now (pump.controller), said by an event and a low alarm until set-clock
    assert rig.events()[-4:] == [(ev.CLOCK_INVALID, 0x7FFFFFFF, 0), (ev.CLOCK_NOT_SET, ev.CLOCK_LOST, 0),
                                 (ev.ALARM_RAISED, al.A_CLOCK_NOT_SET, 0), (ev.BOOT, rig.hw.reset_cause, 0)]
    assert pump.plan.running and _stepping(rig, 2 * HOUR_MS) > 0


# ---- item: corrupt storage is an event and an alarm ----


def test_a_lost_newer_program_slot_is_a_fallback_held_with_a_high_alarm():
    rig = _two_programs()
    rig.storage.corrupt("prog.b", 40)  # bit rot in the 4 mg/day program
    pump = rig.boot()
    assert pump.therapy.daily[0][1] == 12000000  # the older program is what is left ...
    assert _held(pump, al.A_PROGRAM_FALLBACK) and not pump.plan.running  # ... but it does not run
    assert al.PRIORITY[al.A_PROGRAM_FALLBACK] == _HIGH and pump.safety.alarms.sounding(rig.now) in (
        al.A_PROGRAM_FALLBACK, 0) and pump.safety.alarms.highest() == al.A_PROGRAM_FALLBACK
    assert _state(pump, rig.now) == STATE_HELD
    assert (ev.STORE_CORRUPT, 1, ev.STORE_PROG) in rig.events()
    assert al.A_STORE_CORRUPT in _active(pump)
    assert _stepping(rig) == 0
    rig.boot()  # a reset does not release it
    assert _held(rig.pump, al.A_PROGRAM_FALLBACK) and _stepping(rig) == 0
    assert rig.pump.resume_after_alarm(now=rig.now) == 0  # a clinician confirms the older program
    assert rig.pump.plan.running and _stepping(rig) == 250  # 12 mg/day at 10 mg/mL: 6000 steps a day
    rig.boot()
    assert rig.pump.plan.running and not _held(rig.pump, al.A_PROGRAM_FALLBACK)


def test_reprogramming_ends_a_program_fallback():
    rig = _two_programs()
    rig.storage.corrupt("prog.b", -1)
    pump = rig.boot()
    assert _held(pump, al.A_PROGRAM_FALLBACK)
    pump.program(rx(4000), now=rig.now)
    assert pump.plan.running and not pump.safety.holding
    assert _stepping(rig) == 83  # 4 mg/day: 2000 steps a day
    rig.boot()
    assert rig.pump.plan.running and rig.pump.therapy.daily[0][1] == 4000000


def test_a_program_save_cut_by_a_power_cut_is_no_fallback():
    # the newer slot torn, the older program valid: that program command never completed nor was answered
    rig = _two_programs()
    base = rig.storage.clone()
    n = 0
    while True:
        rig = Rig(storage=base.clone())
        rig.storage.cut_after(n)
        try:
            rig.pump.program(rx(6000), now=rig.now)
            break
        except PowerCut:
            pass
        rig.storage.power_on()
        pump = rig.boot()
        assert pump.plan.running, n
        assert not pump.safety.holding and al.A_STORE_CORRUPT not in _active(pump), (n, _active(pump))
        assert pump.therapy.daily[0][1] in (4000000, 6000000)  # the old program or the new one, never older
        if pump._prog_store.torn_slots:
            assert pump.therapy.daily[0][1] == 4000000 and (ev.STORE_CORRUPT, 1, ev.STORE_PROG) in rig.events()
        n += 1
    assert n > 100


def test_both_state_slots_lost_is_a_hold_with_an_alarm_not_running():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.pump.suspend(now=rig.now)
    rig.run(HOUR_MS)
    for name in ("state.a", "state.b"):
        rig.storage.corrupt(name, 12)
    pump = rig.boot()
    assert (ev.STORE_CORRUPT, 2, ev.STORE_STATE) in rig.events()
    assert _held(pump, al.A_STATE_LOST) and al.PRIORITY[al.A_STATE_LOST] == _HIGH
    assert pump.state_name == "held" and _state(pump, rig.now) == STATE_HELD
    assert _stepping(rig) == 0
    rig.boot()  # saved at once: a reset keeps the hold
    pump = rig.pump
    assert _held(pump, al.A_STATE_LOST) and _stepping(rig) == 0
    pump.refill(20000, 10000, now=rig.now)  # the clinician refills, then confirms
    assert pump.resume_after_alarm(now=rig.now) == 0
    assert pump.plan.running and _stepping(rig) == 83 and _state(pump, rig.now) == STATE_RUNNING


def test_a_missing_state_store_beside_a_program_is_lost_a_first_boot_is_not():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    for name in ("state.a", "state.b"):
        rig.storage.remove(name)
    assert _held(rig.boot(), al.A_STATE_LOST)
    fresh = Rig()
    assert not fresh.pump.safety.holding
    assert not set(_active(fresh.pump)) & {al.A_STATE_LOST, al.A_PROGRAM_FALLBACK, al.A_STORE_CORRUPT}
    assert ev.STORE_CORRUPT not in [e[0] for e in fresh.events()]


def test_a_program_store_lost_after_a_program_was_applied_is_a_fallback_to_none():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    for name in ("prog.a", "prog.b"):
        rig.storage.remove(name)
    pump = rig.boot()
    assert pump.therapy is None and _held(pump, al.A_PROGRAM_FALLBACK)
    pump.program(rx(4000), now=rig.now)
    assert not pump.safety.holding and pump.plan.running


def test_a_stored_program_that_does_not_parse_is_not_run():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    store = Store(rig.storage, "prog", max_payload=4096)
    store.load()
    for doc in (b'{"drug": {"name": "morphine", "concentration_ug_per_ml": 10000}, "therapy": {"mode": "fast"}}',
                b"[1, 2]", b"\xff{"):
        store.save(doc)  # a valid CRC around what no firmware wrote
    rig.run(HOUR_MS)
    pump = rig.boot()
    assert pump.therapy is None and _held(pump, al.A_PROGRAM_FALLBACK) and not pump.plan.running
    assert (ev.STORE_CORRUPT, 2, ev.STORE_PROG) in rig.events() and al.A_STORE_CORRUPT in _active(pump)


def test_one_rotten_state_slot_is_an_alarm_a_torn_one_an_event_only():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    newest = "state.a" if rig.pump._state_store._newest == 0 else "state.b"
    rig.storage.corrupt(newest, 20)
    pump = rig.boot()
    assert pump.plan.running and al.A_STORE_CORRUPT in _active(pump)
    assert pump.safety.alarms.is_active(al.A_STORE_CORRUPT)
    pump.acknowledge(al.A_STORE_CORRUPT, now=rig.now)
    rig.run(HOUR_MS)  # the next checkpoint overwrote the rotten slot
    rig.boot()
    assert al.A_STORE_CORRUPT not in _active(rig.pump)
    rig.storage.blobs[newest] = rig.storage.blobs[newest][:30]  # a write cut by a power failure
    pump = rig.boot()
    assert al.A_STORE_CORRUPT not in _active(pump) and (ev.STORE_CORRUPT, 1, ev.STORE_STATE) in rig.events()


def test_log_records_out_of_range_or_rotten_never_stop_the_boot():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    buf = bytearray(RECORD_SIZE)
    for seq in (0xFFFFFFFF, MAX_SEQ):  # a forged record: the first out of range, the second at its very end
        encode(buf, memoryview(buf)[:20], seq, MONDAY_S, ev.BOOT, 0, 0)
        rig.storage.append("log.0", bytes(buf))
        pump = rig.boot()
        assert pump.plan.running and _stepping(rig) > 0
        assert pump.log.last_seq < MAX_SEQ
    rig.storage.corrupt("log.0", 3)  # bit rot in the oldest record
    pump = rig.boot()
    assert pump.log.rotten == 1 and al.A_STORE_CORRUPT in _active(pump)
    assert (ev.STORE_CORRUPT, 1, ev.STORE_LOG) in rig.events()


def test_a_checkpoint_of_the_previous_format_is_carried_over():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.pump.suspend(now=rig.now)
    c = rig.pump.c
    v1 = struct.pack("<IBiiiiIHIiIHHIB", c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl,
                     c.total_ul, c.total_nl_rem, c.conc_ug_per_ml, 0, 0, 0, 0, 0, 0)  # no old drug in the catheter
    for name in ("state.a", "state.b"):
        rig.storage.remove(name)
    Store(rig.storage, "state", 1).save(v1)
    pump = rig.boot()
    assert not pump.safety.holding and pump.suspended and pump.reservoir.fill_nl == 20000000
    assert not set(_active(pump)) & {al.A_STATE_LOST, al.A_PROGRAM_FALLBACK, al.A_STORE_CORRUPT}
    pump.resume(now=rig.now)
    assert _stepping(rig) == 83
    assert rig.pump._state_store.version_loaded == 1
    rig.boot()
    assert rig.pump._state_store.version_loaded == VERSION


# ---- item: a boot without a usable drug library keeps the stored program ----


def test_without_a_drug_library_the_stored_program_keeps_running_with_an_alarm():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    rig.run(HOUR_MS)
    rig.library = None  # druglib.json missing or malformed at this boot
    pump = rig.boot()
    assert pump.therapy.daily[0][1] == 4000000 and pump.plan.running and pump.state_name == "running"
    assert _stepping(rig) == 83
    assert pump.safety.alarms.is_active(al.A_DRUG_LIBRARY_FAULT)
    assert al.PRIORITY[al.A_DRUG_LIBRARY_FAULT] == al.PRIO_MEDIUM
    assert pump.safety.alarms.sounding(rig.now) == al.A_DRUG_LIBRARY_FAULT  # the user hears it
    assert (ev.PROGRAM_UNCHECKED, E_UNKNOWN_DRUG, 0) in rig.events()
    pump.patient_bolus(now=rig.now)  # the programmed bolus, validated with the program
    for call in (lambda: pump.clinician_bolus(100, 10, now=rig.now), lambda: pump.program(rx(3000), now=rig.now)):
        with raises(PumpError) as e:
            call()
        assert e.value.code == E_UNKNOWN_DRUG
    pump.stop(now=rig.now)  # stopping never needs the library
    assert pump.state_name == "stopped"


def test_a_library_that_now_rejects_the_stored_program_keeps_it_running_with_an_alarm():
    rig = Rig(fill_ul=20000, prescription=rx(12000))
    rig.run(HOUR_MS)
    stricter = {"concentration_ug_per_ml": bounds(500, 1000, 25000, 30000),
                "daily_dose_ug_per_day": bounds(50, 100, 5000, 10000),
                "bolus_dose_ug": bounds(10, 25, 500, 1000)}
    rig.library = DrugLibrary.from_doc({"format": 1, "version": "2", "drugs": {"morphine": stricter}})
    pump = rig.boot()
    assert pump.plan.running and _stepping(rig) == 250
    assert (ev.PROGRAM_UNCHECKED, E_HARD_LIMIT, 0) in rig.events()
    assert pump.safety.alarms.is_active(al.A_DRUG_LIBRARY_FAULT)
    pump.program(rx(4000), now=rig.now)  # a program the library accepts ends the condition
    pump.acknowledge(al.A_DRUG_LIBRARY_FAULT, now=rig.now)
    assert not pump.safety.alarms.is_active(al.A_DRUG_LIBRARY_FAULT)
    rig.boot()
    assert not rig.pump.safety.alarms.is_active(al.A_DRUG_LIBRARY_FAULT) and rig.pump.plan.running


def test_the_original_library_leaves_no_alarm():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.boot()
    assert not pump.safety.alarms.is_active(al.A_DRUG_LIBRARY_FAULT) and pump.unchecked == 0
    assert LIB is rig.library


def test_a_checkpoint_that_does_not_parse_falls_back_to_the_other_slot():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    store = rig.pump._state_store
    raw = store.load()
    for bad in (raw[:-1], raw + b"\0"):  # a grant count that does not match its length, behind a valid CRC
        store.save(bad)
        with raises(PumpError) as e:
            unpack(bad)
        assert e.value.code == E_CORRUPT
        pump = rig.boot()
        assert pump.plan.running and not pump.safety.holding and al.A_STORE_CORRUPT in _active(pump)


def test_a_library_without_the_drug_still_lets_the_clinician_stop_the_pump():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    other = {"concentration_ug_per_ml": bounds(1, 2, 3, 4), "daily_dose_ug_per_day": bounds(1, 2, 3, 4),
             "bolus_dose_ug": bounds(1, 2, 3, 4)}
    rig.library = DrugLibrary.from_doc({"format": 1, "version": "3", "drugs": {"baclofen": other}})
    pump = rig.boot()
    assert pump.plan.running and (ev.PROGRAM_UNCHECKED, E_UNKNOWN_DRUG, 0) in rig.events()
    with raises(PumpError) as e:
        pump.refill(20000, 20000, now=rig.now)  # a new strength is a new dose: it needs the library
    assert e.value.code == E_UNKNOWN_DRUG and pump.plan.conc_ug_per_ml == 10000
    pump.refill(20000, now=rig.now)  # the same drug again: no new dose
    pump.stop(now=rig.now)
    assert pump.state_name == "stopped" and _stepping(rig) == 0


def test_a_boot_whose_alarms_cannot_be_saved_still_runs_with_them():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    rig.storage.corrupt("log.0", 3)  # bit rot found at the next boot: an alarm to save at once ...
    real_write = rig.storage.write

    def failing_write(name, data):
        if name.startswith("state"):
            raise OSError(28)  # ... on a flash that refuses the write
        real_write(name, data)

    rig.storage.write = failing_write
    pump = rig.boot()
    assert al.A_STORE_CORRUPT in _active(pump) and pump.plan.running and pump._dirty


def test_a_new_pumps_first_saves_cut_by_a_power_failure_are_no_loss():
    for first in (lambda rig: rig.pump.refill(20000, 10000, now=rig.now),
                  lambda rig: rig.pump.program(rx(4000), now=rig.now)):
        n = 0
        while True:
            rig = Rig()
            rig.storage.cut_after(n)
            try:
                first(rig)
                break
            except PowerCut:
                pass
            rig.storage.power_on()
            pump = rig.boot()
            assert not pump.safety.holding and al.A_STORE_CORRUPT not in _active(pump), (n, _active(pump))
            n += 1
        assert n > 20


# ---- a refill with a new strength whose checkpoint was lost (found by the soak) ----


def _refilled_then_newest_state_rotten(conc):
    """4 mg/day at 10 mg/mL, refilled with `conc`; then bit rot in the newest state slot, the refill's checkpoint."""
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    rig.refill(30000, conc)
    newest = "state.a" if rig.pump._state_store._newest == 0 else "state.b"
    rig.storage.corrupt(newest, 20)
    return rig


def test_a_refill_whose_checkpoint_was_lost_never_paces_the_new_drug_as_the_old():
    # the refill saved the program at its new strength, then its checkpoint; with that checkpoint lost the boot took
    # the older one's drug for the reservoir's: 10 -> 5 mg/mL ran at half the dose for good (a medium alarm only),
    # 10 -> 20 mg/mL at twice the volume rate until the over-delivery monitor held, again after every resume
    for conc in (5000, 20000):
        rig = _refilled_then_newest_state_rotten(conc)
        pump = rig.boot()
        assert pump.therapy.conc_ug_per_ml == conc and pump.plan.conc_ug_per_ml == conc, conc
        assert pump.plan.catheter.segments() == [(150000, 10000)], conc  # the catheter's drug goes first, as refilled
        assert _held(pump, al.A_STATE_LOST) and _stepping(rig) == 0, conc  # the volume filled is not known
        rig.boot()
        assert _held(rig.pump, al.A_STATE_LOST) and rig.pump.plan.catheter.segments() == [(150000, 10000)], conc
        rig.refill(30000, conc)  # the clinician refills and confirms
        pump = rig.pump
        assert pump.resume_after_alarm(now=rig.now) == 0 and pump.reservoir.remaining_nl == 30000000, conc
        assert _stepping(rig, 9 * HOUR_MS) == 750, conc  # 4 mg/day of the old drug: 2000 steps a day, 150 uL
        assert _stepping(rig, 12 * HOUR_MS) == 4000 * 1000 // conc * 12 // 24 * 1000 // 200, conc  # then the new


def test_a_refill_cut_between_its_two_saves_is_held_until_confirmed():
    # the same at a power cut between saving the program and the checkpoint: the reservoir holds the new drug (it
    # was filled before the command), in a volume the pump does not know
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    base = rig.storage.clone()
    for n in range(4000):
        rig = Rig(storage=base.clone())
        rig.storage.cut_after(n)
        try:
            rig.pump.refill(30000, 5000, now=rig.now)
            break
        except PowerCut:
            pass
        rig.storage.power_on()
        pump = rig.boot()
        if pump.therapy.conc_ug_per_ml == 5000:  # the program was saved at the new strength
            assert pump.plan.conc_ug_per_ml == 5000 and pump.plan.catheter.segments() == [(150000, 10000)], n
            done = pump.reservoir.fill_nl == 30000000  # (the cut came after the checkpoint too)
            assert _held(pump, al.A_STATE_LOST) != done and pump.plan.running == done, n
        else:
            assert pump.plan.conc_ug_per_ml == 10000 and not pump.safety.holding and pump.plan.running, n
    else:
        raise AssertionError("the refill never completed")


def test_an_old_program_reading_right_again_never_outranks_the_one_given_after_a_loss():
    # found by the soak: both program slots lost, the clinician programs 6 mg/day into one of them; the other slot's
    # old 4 mg/day record, with the higher number, read right again (a read error that passed) and the boot ran it
    rig = _two_programs()
    for name in ("prog.a", "prog.b"):
        rig.storage.corrupt(name, 40)
    pump = rig.boot()
    assert pump.therapy is None and _held(pump, al.A_PROGRAM_FALLBACK)
    pump.program(rx(6000), now=rig.now)
    rig.run(HOUR_MS)
    for name in ("prog.a", "prog.b"):
        rig.storage.corrupt(name, 40)  # the same bit: what the slot held before reads right again
        pump = rig.boot()
        assert pump.therapy.daily[0][1] == 6000000, name
        rig.storage.corrupt(name, 40)
