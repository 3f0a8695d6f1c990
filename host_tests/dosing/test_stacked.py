"""Refills with a new strength stacking up in the catheter, on the pump and the simulated board: each old drug reaches
the patient at its own strength, in turn, so the drug mass delivered follows the program (measured by the plant's own
model of the catheter line); the over-delivery bounds and bolus allowances follow the drug at the tip; priming pushes
old drugs out; the checkpoint keeps the queue, and a record from before the queue restores as a one-segment queue.
"""

import struct

from pump import alarms as al
from pump import events as ev
from pump.checkpoint import Counters, pack, unpack
from pump.errors import E_CORRUPT, PumpError
from pump.overdelivery import allowed_steps
from pump.store import Store
from board.sim.hydraulics import Hydraulics
from support import raises
from support.plan import DAY_MS, HOUR_MS
from support.rig import PB, Rig, break_dose_engine, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_NL = 200
_CATHETER_NL = 150000


def _stacked(dose_ug=4000, first=20000, middle=5000, last=10000, gap_ms=2 * HOUR_MS, **extra):
    """The adversarial review's example: `first` in the catheter, refilled with `middle`, then `gap_ms` later with
    `last`, the program at `dose_ug` a day."""
    rig = Rig(fill_ul=20000, prescription=rx(dose_ug, conc=first, **extra))
    rig.run(HOUR_MS)
    rig.refill(30000, middle)
    rig.run(gap_ms)
    rig.refill(30000, last)
    return rig


def _over(pump):
    """An over-delivery alarm, or any hold (the rig has no pressure sensor: that alarm is always on)."""
    return pump.safety.holding or pump.safety.alarms.is_active(al.A_OVER_DELIVERY)


def _ug(rig):
    return rig.plant.delivered_ug


def test_stacked_refills_deliver_the_programmed_drug_mass_within_one_step():
    # 20 000 ug/mL in the catheter, refilled with 5 000, two hours later with 10 000: the catheter then holds 133 uL
    # of the first drug ahead of 17 uL of the middle one. Restarting the bridge for the whole catheter at the middle
    # drug's strength pushed the first drug at four times its volume rate: about 6 000 ug in the next 24 h.
    rig = _stacked()
    pump = rig.pump
    m0 = _ug(rig)
    rig.run(DAY_MS)
    step_ug = _NL * 20000 / 1000000  # one step of the strongest drug in the catheter: 4 ug
    assert abs(_ug(rig) - m0 - 4000) <= step_ug, _ug(rig) - m0
    assert not _over(pump)


def test_a_refill_queues_the_catheter_part_holding_the_reservoir_drug():
    rig = _stacked()
    catheter = rig.pump.plan.catheter
    first, middle = catheter.segments()
    assert first[1] == 20000 and middle == (84 * _NL, 5000)  # the 84 steps since the first refill were its drug
    assert catheter.old_nl == first[0] + middle[0] == _CATHETER_NL
    rig.run(DAY_MS)
    assert catheter.n == 0 and rig.pump.plan.tip_conc() == 10000


def test_each_old_drug_goes_at_its_own_strength_and_the_rate_changes_at_the_step_that_empties_it():
    rig = Rig(fill_ul=20000, prescription=rx(4000, conc=20000))
    rig.run(HOUR_MS)
    rig.refill(30000, 5000)
    n1 = len(rig.step_times)
    rig.run(2 * HOUR_MS)
    rig.refill(30000, 10000)
    n2 = len(rig.step_times)
    rig.run(DAY_MS)
    times = rig.step_times[n2:]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # 4 mg/day: 0.2 mL/day at 20 mg/mL (a step every 86.4 s), 0.8 at 5 (21.6 s), 0.4 at 10 (43.2 s); the first drug
    # ends at the step that moves its last nL, the middle one 750 steps after the refill (the catheter's volume)
    k = _CATHETER_NL // _NL - (n2 - n1)
    assert n2 - n1 == 84  # 2 h at 0.2 mL/day
    assert set(gaps[: k - 1]) == {86400}
    assert set(gaps[k - 1 : 749]) == {21600}
    assert set(gaps[749:]) == {43200}


def test_a_weak_drug_stacked_behind_a_strong_one_and_the_reverse_both_follow_the_program():
    for first, middle, last in ((5000, 20000, 10000), (10000, 20000, 5000), (20000, 10000, 5000)):
        rig = _stacked(first=first, middle=middle, last=last, gap_ms=3 * HOUR_MS)
        m0 = _ug(rig)
        rig.run(DAY_MS)
        step_ug = _NL * max(first, middle, last) / 1000000
        assert abs(_ug(rig) - m0 - 4000) <= step_ug, (first, middle, last, _ug(rig) - m0)
        assert not _over(rig.pump)


def test_over_delivery_bounds_follow_the_drug_at_the_tip():
    rig = _stacked()
    pump = rig.pump
    hour = pump.safety.hour_window

    def bound(conc):
        return allowed_steps(4000000 * 1000 // conc, _NL, HOUR_MS)

    assert hour.limit == bound(20000)  # not the weaker drug's: four times as many steps would pass unnoticed
    for conc in (5000, 10000):
        while pump.plan.tip_conc() != conc:
            rig.run(60000)
        rig.run(60000)
        assert hour.limit == bound(conc)
    assert not _over(pump)  # no false alarm at either change


def test_the_monitor_catches_three_times_the_rate_while_old_drugs_are_in_the_catheter():
    rig = _stacked()
    pump = rig.pump
    break_dose_engine(pump, factor=3)
    rig.run(HOUR_MS)
    assert pump.safety.alarms.is_active(al.A_OVER_DELIVERY)
    assert pump.plan.catheter.n and not pump.plan.running


def test_a_bolus_is_allowed_the_weakest_drug_it_can_reach():
    # 100 ug: 5 uL of the first drug, or 20 uL of the middle one behind it
    rig = _stacked(patient_bolus=PB)
    pump = rig.pump
    hour = pump.safety.hour_window
    cap = hour.cap
    pump.patient_bolus(rig.now)
    assert hour.cap == cap + 25 + 2  # well inside the first drug: its strength
    rig.run(3 * HOUR_MS)
    assert hour.pending == 0
    tip_nl = pump.plan.catheter.segments()[0][0]
    rig.run((tip_nl - 3000) * 86400000 // 200000)  # 3 uL (60 ug) of the first drug left at the tip
    cap = hour.cap
    pump.patient_bolus(rig.now)
    assert hour.cap == cap + 20000 // _NL + 2  # the bolus reaches the middle drug: allowed its steps
    rig.run(6 * HOUR_MS)
    assert not _over(pump) and hour.pending == 0 and pump.plan.catheter.n == 0


def test_a_refill_with_a_new_strength_cancels_a_bolus_in_progress_logs_it_and_hands_its_allowance_back():
    # The refill re-validates the program, which cancels the boluses in progress: that went unlogged and their
    # over-delivery allowance stayed granted for good, widening the bounds until the next alarm was cleared.
    rig = Rig(fill_ul=20000, prescription=rx(4000, conc=20000, patient_bolus=PB))
    pump = rig.pump
    hour = pump.safety.hour_window
    cap = hour.cap
    pump.patient_bolus(rig.now)
    assert hour.cap == cap + 25 + 2
    rig.run(5 * 60000)
    rig.refill(30000, 5000)
    assert pump.plan.boluses == []
    # half of its 10 min: half its dose delivered (then the refill's residual and the refill)
    assert [e[0] for e in rig.events()[-3:]] == [ev.BOLUS_CANCELLED, ev.REFILL_RESIDUAL, ev.REFILL]
    assert rig.events()[-3][:2] == (ev.BOLUS_CANCELLED, 50000)
    rig.run(2 * HOUR_MS)  # the allowance lasts one window after the cancel, as for any bolus
    assert hour.pending == 0 and pump.safety.day_window.pending == 0
    assert hour.cap == cap == allowed_steps(4000000 * 1000 // 20000, _NL, HOUR_MS)  # the program's own bound again
    assert not _over(pump)


def test_priming_pushes_the_old_drugs_out_of_the_catheter():
    # 5 mg/mL in the catheter, refilled with 20 mg/mL, then primed: the catheter holds the new drug. Pacing the
    # primed catheter at the old strength would push the strong drug at four times its volume rate.
    rig = Rig(fill_ul=20000, prescription=rx(4000, conc=5000))
    pump = rig.pump
    rig.run(HOUR_MS)
    rig.refill(30000, 20000)
    pump.suspend(rig.now)
    pump.prime(100, rig.now)
    rig.run(HOUR_MS)
    left = pump.plan.catheter.old_nl if hasattr(pump.plan, "catheter") else None
    pump.prime(100, rig.now)
    rig.run(HOUR_MS)
    pump.resume(rig.now)
    m0 = _ug(rig)
    rig.run(DAY_MS)
    assert pump.plan.rate_num == 200000 * pump.plan.rate_den  # 0.2 mL/day: the strong drug's
    assert abs(_ug(rig) - m0 - 4000) <= _NL * 20000 / 1000000, _ug(rig) - m0
    assert left == 50000 and pump.plan.catheter.n == 0  # 100 of the 150 uL pushed out by the first priming


def test_a_reset_in_a_stacked_bridge_keeps_the_queue():
    rig = _stacked()
    for minutes in (7, 11, 3, 13, 5, 14, 9) * 40:  # resets every few minutes, between two 15-min checkpoints
        before = rig.pump.plan.catheter.segments()
        rig.run(minutes * 60000 + 17)
        moved = rig.pump.plan.catheter.segments()
        rig.boot()
        assert rig.pump.plan.catheter.segments() == moved, (before, moved)
        assert rig.pump.plan.tip_conc() == (moved[0][1] if moved else 10000)
        if not moved:
            break
    assert not rig.pump.plan.catheter.n


def test_the_checkpoint_keeps_the_queue_and_reads_a_record_from_before_it():
    c = Counters()
    c.conc_ug_per_ml = 10000
    c.mono_s = 100
    c.grants_mono_s = [5, 6]
    for segments in ([], [(150000, 20000)], [(1, 20000), (2, 5000)], [(3, 1), (4, 2), (5, 3), (6, 4)]):
        c.catheter = segments
        assert unpack(pack(c)).catheter == segments
    # a record from before the queue (version 1, its one bridge in the tip's fields) restores as a one-drug queue
    old = struct.pack("<IBiiiiIHIiIHHIB", 0, 0, 0, 0, 0, 0, 0, 0, 10000, 150000, 20000, 0, 0, 0, 0)
    assert unpack(old, 1).catheter == [(150000, 20000)]
    assert unpack(struct.pack("<IBiiiiIHIiIHHIB", 0, 0, 0, 0, 0, 0, 0, 0, 10000, 0, 20000, 0, 0, 0, 0),
                  1).catheter == []  # a bridge that had ended kept its strength beside 0 nL: no drug
    c.catheter = [(1, 20000), (2, 5000)]
    raw = pack(c)
    tail = struct.calcsize("<IBiiiiIHIiIIHIIB") + 4 * 2  # the catheter tail's count, after the grants
    assert raw[tail] == 1
    for bad in (raw[:-1], raw + b"\0", old + b"\0", raw[:tail] + b"\x04" + raw[tail + 1:],  # 4 more: 5 in all
                raw[:tail] + b"\x02" + raw[tail + 1:]):  # a count beyond the segments written
        with raises(PumpError) as e:
            unpack(bad)
        assert e.value.code == E_CORRUPT
    c.catheter = []
    raw = pack(c)
    with raises(PumpError) as e:
        unpack(raw[:tail] + b"\x01" + struct.pack("<iI", 5, 5) + raw[tail + 1:])  # a tail behind no tip
    assert e.value.code == E_CORRUPT


def test_a_pump_restores_a_bridge_saved_before_the_queue():
    rig = _stacked()
    rig.pump.checkpoint(rig.now)
    first = rig.pump.plan.catheter.segments()[0]
    c = rig.pump.c
    # what firmware before the queue saved: one bridge, in the first record layout
    v1 = struct.pack("<IBiiiiIHIiIHHIB", c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl,
                     c.total_ul, c.total_nl_rem, c.conc_ug_per_ml, first[0], first[1], 0, 0, 0, 0)
    for name in ("state.a", "state.b"):
        rig.storage.remove(name)
    Store(rig.storage, "state", 1).save(v1)
    pump = rig.boot()
    assert pump.plan.catheter.segments() == [first] and pump.plan.tip_conc() == 20000


# ---- steps that moved no drug out of the catheter (found by the soak) ----


def _old_ahead(plant, conc):
    """The volume the mechanism must still move before the drug at `conc` has all left the plant's line: what the
    line holds of it, plus what the line is short of (a back-off drew it back: the next steps fill that first)."""
    line = plant.rigid
    held = sum(nl for c, nl in zip(line.conc[line.tip :], line.nl[line.tip :]) if c == conc and nl > 0)
    return held + line.out_nl - plant.pushed_nl


def _jammed_during_a_bridge(dose_ug=4000):
    """10 mg/mL in the catheter, refilled with 5: two hours later the mechanism jams until the stall holds dosing;
    then it is freed and a clinician resumes."""
    # the encoder alone (no DIAG input, which sees a jam at the first step): it sees one within 12 steps
    rig = Rig(fill_ul=20000, prescription=rx(dose_ug), board={"stall_diag": False})
    rig.run(HOUR_MS)
    rig.refill(30000, 5000)
    rig.run(2 * HOUR_MS)
    rig.plant.jammed = True
    before = rig.plant.steps_forward
    rig.run(2 * HOUR_MS)
    pump = rig.pump
    assert pump.safety.holding == 1 << (al.A_MOTOR_STALL - 1)
    rig.plant.jammed = False
    assert pump.resume_after_alarm(now=rig.now) == 0
    return rig, rig.plant.steps_forward - before


def test_steps_a_jammed_mechanism_never_made_do_not_push_the_old_drug_out():
    # soak, seed 2: the queue counted the steps the stall check needs (up to 12) as moved, so the old, stronger drug
    # ran out early in the pump's view and its last steps went at the weaker drug's volume rate (twice the dose here)
    rig, jammed = _jammed_during_a_bridge()
    assert 4 <= jammed <= 12
    pump = rig.pump
    # within a step: the encoder's last edge may come late, so one step unseen is not taken back
    assert 0 <= _old_ahead(rig.plant, 10000) - pump.plan.catheter.old_nl <= _NL
    m0 = rig.plant.pushed_pg
    rig.run(DAY_MS)
    assert abs(rig.plant.pushed_pg - m0 - 4000 * 10**6) <= _NL * 10000  # the program's dose within a step
    rig.boot()  # the queue as the line holds it is checkpointed
    assert rig.pump.plan.catheter.segments() == pump.plan.catheter.segments()


def test_the_occlusion_back_off_draws_the_catheter_tip_back():
    # the steps into an occluded line moved the queue, the back-off drew their volume back into the pump, and the
    # queue kept them as moved: the old drug ended early by the back-off's volume
    rig = Rig()
    Hydraulics(rig.clock, postures_per_day=0, resp_kpa=0, cardiac_kpa=0).attach(rig.plant)
    pump = rig.boot()
    pump.refill(20000, 20000)
    rig.plant.refill(20000, 20000)
    pump.program(rx(12000, conc=20000))  # 0.6 mL/day at 20 mg/mL; refilled with 5 mg/mL a little later
    rig.run(HOUR_MS)
    rig.refill(30000, 5000)
    rig.run(HOUR_MS // 4)
    rig.plant.hydraulics.occlude()
    rig.run(HOUR_MS)
    assert pump.safety.holding == 1 << (al.A_OCCLUSION - 1) and rig.plant.steps_reverse > 0
    assert pump.plan.catheter.old_nl == _old_ahead(rig.plant, 20000)
    rig.plant.hydraulics.clear()
    rig.run(HOUR_MS)
    assert pump.resume_after_alarm(now=rig.now) == 0
    m0 = rig.plant.pushed_pg
    rig.run(DAY_MS)
    assert rig.plant.pushed_pg - m0 <= 12000 * 10**6 + _NL * 20000  # (less: the back-off's volume is refilled)
