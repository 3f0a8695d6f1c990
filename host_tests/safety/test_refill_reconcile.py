"""Refill reconciliation (pump.refillcheck through Pump.refill): the aspirated volume against the expected residual,
a discrepancy logged with a medium alarm that outlives a reset, the refill applied all the same; bad volumes refused
whole; no verdict where the expected residual is unknown (the reservoir's record lost) or nothing was measured."""

from pump import alarms as al
from pump import events as ev
from pump.config import PumpConfig
from pump.errors import E_RANGE, PumpError
from pump.refillcheck import UNKNOWN, discrepancy_ul, tolerance_ul
from support import raises
from support.plan import HOUR_MS
from support.rig import Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _rig(**cfg):
    rig = Rig(pump_config=cfg or None, fill_ul=20000, prescription=rx(4000))  # 0.4 mL/day
    rig.run(24 * HOUR_MS)
    return rig


def _after(rig, seq):
    return [(r[2], r[3], r[4]) for r in rig.pump.log.read(seq + 1)]


def _refill(rig, aspirated_ul, fill_ul=20000, conc=None):
    seq = rig.pump.log.last_seq
    rig.pump.refill(fill_ul, conc, rig.now, aspirated_ul)
    return _after(rig, seq)


def test_the_tolerance_is_the_larger_of_the_volume_and_the_share_of_the_expected():
    assert tolerance_ul(0, 1000, 15) == 1000
    assert tolerance_ul(6666, 1000, 15) == 1000  # 999.9 rounds up to 1000: not above
    assert tolerance_ul(6667, 1000, 15) == 1001
    assert tolerance_ul(40000, 1000, 15) == 6000
    assert discrepancy_ul(10000, 11500, 1000, 15) == 0  # exactly the tolerance: not beyond it
    assert discrepancy_ul(10000, 11501, 1000, 15) == 1501
    assert discrepancy_ul(10000, 8499, 1000, 15) == -1501
    assert discrepancy_ul(None, 0, 1000, 15) == 0 and discrepancy_ul(10000, None, 1000, 15) == 0


def test_a_residual_within_the_tolerance_is_logged_and_raises_nothing():
    rig = _rig()
    expected = rig.pump.expected_residual_ul()
    assert 19500 < expected < 19700  # a day at 0.4 mL/day
    events = _refill(rig, expected + 2900)  # 15 % of 19600 is 2940
    assert (ev.REFILL_RESIDUAL, expected, expected + 2900) in events
    assert not [e for e in events if e[0] == ev.REFILL_DISCREPANCY]
    assert not rig.pump.alarms.is_active(al.A_REFILL_DISCREPANCY)
    assert rig.pump.last_refill == (expected, expected + 2900, (expected * 15 + 99) // 100, 0)


def test_more_back_than_expected_is_a_discrepancy_with_a_medium_alarm_and_the_refill_still_happens():
    rig = _rig()
    expected = rig.pump.expected_residual_ul()
    events = _refill(rig, expected + 5000, fill_ul=30000)
    tol = (expected * 15 + 99) // 100
    assert (ev.REFILL_DISCREPANCY, 5000, tol) in events
    assert events.index((ev.REFILL_RESIDUAL, expected, expected + 5000)) < events.index((ev.REFILL, 30000, 10000))
    pump = rig.pump
    assert pump.alarms.is_active(al.A_REFILL_DISCREPANCY) and al.PRIORITY[al.A_REFILL_DISCREPANCY] == al.PRIO_MEDIUM
    assert pump.alarms.sounding(rig.now) == al.A_REFILL_DISCREPANCY  # the user hears it
    # never a hold: the drug is in the reservoir, therapy goes on
    assert pump.reservoir.remaining_nl == 30000000 and pump.plan.running and not pump.safety.holding
    steps = len(rig.step_times)
    rig.run(HOUR_MS)
    assert len(rig.step_times) > steps


def test_less_back_than_expected_a_pocket_fill_or_a_leak_is_a_discrepancy_too():
    rig = _rig()
    expected = rig.pump.expected_residual_ul()
    events = _refill(rig, 0)
    assert (ev.REFILL_DISCREPANCY, -expected, (expected * 15 + 99) // 100) in events
    assert rig.pump.alarms.is_active(al.A_REFILL_DISCREPANCY)


def test_the_alarm_outlives_a_reset_until_it_is_acknowledged():
    rig = _rig()
    _refill(rig, 0)
    rig.boot()
    assert rig.pump.alarms.is_active(al.A_REFILL_DISCREPANCY)
    rig.pump.acknowledge(al.A_REFILL_DISCREPANCY, rig.now)
    assert not rig.pump.alarms.is_active(al.A_REFILL_DISCREPANCY)
    rig.boot()
    assert not rig.pump.alarms.is_active(al.A_REFILL_DISCREPANCY)


def test_not_measured_is_logged_as_such_and_judged_not_at_all():
    rig = _rig()
    expected = rig.pump.expected_residual_ul()
    events = _refill(rig, None)
    assert (ev.REFILL_RESIDUAL, expected, UNKNOWN) in events
    assert not rig.pump.alarms.is_active(al.A_REFILL_DISCREPANCY)
    assert rig.pump.last_refill[3] == 0


def test_an_aspirated_volume_out_of_range_is_refused_whole():
    rig = _rig()
    pump = rig.pump
    before = (pump.reservoir.remaining_nl, pump.log.last_seq, pump.plan.conc_ug_per_ml)
    for bad in (40001, 0xFFFFFFFE, 0xFFFFFFFF, -1, 1.5, True, "10"):
        with raises(PumpError) as e:
            pump.refill(20000, 20000, rig.now, bad)  # a new strength too: nothing of it may apply
        assert e.value.code in (E_RANGE, 100) and "aspirated_ul" in e.value.detail, (bad, e.value)
    assert (pump.reservoir.remaining_nl, pump.log.last_seq, pump.plan.conc_ug_per_ml) == before
    pump.refill(20000, None, rig.now, 40000)  # the reservoir's capacity itself is a volume (a discrepancy here)
    assert pump.last_refill[1] == 40000


def test_a_refill_while_suspended_reconciles_against_the_volume_left():
    rig = _rig()
    rig.pump.suspend(rig.now)
    expected = rig.pump.expected_residual_ul()
    rig.run(48 * HOUR_MS)
    assert rig.pump.expected_residual_ul() == expected  # nothing moved while suspended
    _refill(rig, expected)
    assert rig.pump.last_refill == (expected, expected, (expected * 15 + 99) // 100, 0)
    assert rig.pump.suspended  # a refill does not resume


def test_at_empty_the_expected_residual_is_the_estimate_never_below_zero():
    rig = Rig(pump_config={"min_rate_at_empty_nl_per_day": 10000, "low_reservoir_ul": 1000,
                           "empty_reservoir_ul": 1000}, fill_ul=1100, prescription=rx(4000))
    rig.run(3 * 24 * HOUR_MS)  # 0.4 mL/day: empty after 6 h, then 10 uL/day on past the estimate's zero
    pump = rig.pump
    assert pump.reservoir.state == 2
    rig.run(200 * 24 * HOUR_MS)
    assert pump.reservoir.remaining_nl < 0 and pump.expected_residual_ul() == 0
    events = _refill(rig, 0)
    assert (ev.REFILL_RESIDUAL, 0, 0) in events and not pump.alarms.is_active(al.A_REFILL_DISCREPANCY)


def test_two_refills_in_a_row_the_second_expects_what_the_first_filled():
    rig = _rig()
    _refill(rig, rig.pump.expected_residual_ul(), fill_ul=15000)
    events = _refill(rig, 15000, fill_ul=20000)
    assert (ev.REFILL_RESIDUAL, 15000, 15000) in events
    assert not rig.pump.alarms.is_active(al.A_REFILL_DISCREPANCY)


def test_after_a_reset_that_kept_the_state_the_estimate_is_the_expected_residual():
    rig = _rig()
    rig.pump.checkpoint(rig.now)
    expected = rig.pump.expected_residual_ul()
    rig.boot()
    assert rig.pump.expected_residual_ul() == expected


def test_after_the_reservoir_record_was_lost_nothing_is_judged_until_the_next_refill():
    rig = _rig()
    for name in ("state.a", "state.b"):
        rig.storage.corrupt(name, 12)
    rig.boot()
    assert rig.pump.expected_residual_ul() is None
    rig.boot()  # still unknown after another reset (saved with the checkpoint)
    pump = rig.pump
    assert pump.expected_residual_ul() is None
    events = _refill(rig, 12345, conc=10000)  # (the strength was lost with the record)
    assert (ev.REFILL_RESIDUAL, UNKNOWN, 12345) in events  # said, and no false alarm
    assert not pump.alarms.is_active(al.A_REFILL_DISCREPANCY) and pump.last_refill[0] is None
    assert pump.expected_residual_ul() == 20000  # known again from the refill on
    rig.boot()
    assert rig.pump.expected_residual_ul() == 20000


def test_the_tolerance_is_configurable_within_its_range():
    rig = _rig(refill_tolerance_ul=100, refill_tolerance_pct=0)
    expected = rig.pump.expected_residual_ul()
    events = _refill(rig, expected + 101)
    assert (ev.REFILL_DISCREPANCY, 101, 100) in events
    for key, bad in (("refill_tolerance_ul", 100001), ("refill_tolerance_ul", -1), ("refill_tolerance_pct", 101)):
        with raises(PumpError) as e:
            PumpConfig({key: bad})
        assert e.value.code == E_RANGE and key in e.value.detail
