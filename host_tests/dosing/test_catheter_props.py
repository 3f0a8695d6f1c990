"""Refills with new strengths stacking up at random, on the whole pump (hypothesis): the drug mass that left the
catheter tip (the simulated plant's own model of the line) follows the program, and the over-delivery monitor, whose
bounds follow the drug at the tip, never raises a false alarm across the segment changes, with patient boluses on top.
"""

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pump import alarms as al
from pump.errors import PumpError
from support.plan import DAY_MS
from support.rig import PB, Rig, rx


_NL = 200
_STRENGTHS = (2500, 5000, 10000, 20000, 25000)  # within the example library's soft limits


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1000, 4000), st.sampled_from(_STRENGTHS),
       st.lists(st.tuples(st.integers(5, 240), st.sampled_from(_STRENGTHS + ("bolus",))), min_size=1, max_size=8))
@example(1000, 2500, [(5, "bolus"), (5, 5000)])  # found by this test: a refill 5 min into a bolus
def test_stacked_refills_follow_the_program_without_a_false_alarm(dose_ug, c0, events):
    rig = Rig(fill_ul=40000, prescription=rx(dose_ug, conc=c0, patient_bolus=PB))
    pump = rig.pump
    strongest = c0
    boluses = 0
    bolus_end = 0
    for minutes, what in events:
        rig.run(minutes * 60000)
        if what == "bolus":
            try:
                pump.patient_bolus(rig.now)
            except PumpError:  # the lockout: a refusal, not a delivery
                continue
            boluses += 1
            bolus_end = rig.clock.t_ms + PB["duration_min"] * 60000
        else:
            # a refill with a new strength cancels a bolus in progress (test_stacked.py): here each one runs out first
            rig.run(max(0, bolus_end - rig.clock.t_ms))
            rig.refill(40000, what)
            strongest = max(strongest, what)
    rig.run(DAY_MS)  # every bolus done; old drugs may still be in the catheter at the lowest rates
    programmed_ug = dose_ug * rig.clock.t_ms / DAY_MS + 100 * boluses
    step_ug = _NL * strongest / 1000000
    assert rig.plant.delivered_ug - programmed_ug <= step_ug, (rig.plant.delivered_ug, programmed_ug)
    if not pump.plan.catheter.merges:
        assert programmed_ug - rig.plant.delivered_ug <= 2 * step_ug, (rig.plant.delivered_ug, programmed_ug)
    assert not pump.safety.holding and not pump.safety.alarms.is_active(al.A_OVER_DELIVERY)
    assert pump.safety.hour_window.pending == 0
