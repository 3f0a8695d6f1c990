"""Limit arithmetic of a program (cold path, big ints allowed): its worst-case daily volume, the bounds the safety
monitor's over-delivery windows get from it, the steps a bolus may move, and the steps a reset's gap books."""

from pump.errors import E_RANGE, PumpError
from pump.therapy import MODE_STOPPED
from pump.units import as_int

_DAY_MS = 86400000
PRIME_MAX_UL = 5000


def check_fill_ul(fill_ul, reservoir_ul):
    """A refill's volume as the pump takes it (1 uL .. the largest fill): the pump's check, which the programmer's
    offline report and its dry run call too, so they cannot disagree."""
    fill_ul = as_int(fill_ul, "fill_ul")  # 20000.0 is 20000 (JSON writers); 1.5, NaN, true are refused
    if not 0 < fill_ul <= reservoir_ul:
        raise PumpError(E_RANGE, "fill_ul: %d: allowed 1..%d" % (fill_ul, reservoir_ul))
    return fill_ul


def check_prime_ul(volume_ul):
    """A priming volume as the pump takes it (1 .. PRIME_MAX_UL uL)."""
    volume_ul = as_int(volume_ul, "volume_ul")
    if not 0 < volume_ul <= PRIME_MAX_UL:
        raise PumpError(E_RANGE, "volume_ul: %d: allowed 1..%d" % (volume_ul, PRIME_MAX_UL))
    return volume_ul


def peak_basal_ng_per_day(therapy):
    """The program's highest basal rate anywhere in its week."""
    peak = 0
    for sched in therapy.weekly or (therapy.daily,):
        for _start, ng_per_day in sched:
            peak = max(peak, ng_per_day)
    return peak


def usage_nl_per_day(therapy):
    """Worst-case daily volume of a program, every allowed patient bolus taken; 0 without a running program."""
    if therapy is None or therapy.mode == MODE_STOPPED:
        return 0
    return -((-therapy.max_daily_total_ng() * 1000) // therapy.conc_ug_per_ml)


def window_limits(therapy, conc_ug_per_ml):
    """(day_nl, peak_nl_per_day, hour_nl): the over-delivery bounds of a program at the strength at the catheter tip,
    without the boluses (granted as they start); all 0 without a running program. Any 24 h: the program's heaviest
    24 h of basal (across midnight too) plus the periodic boluses of two days; any hour: its peak basal rate for the
    hour plus the same periodic boluses."""
    if therapy is None or therapy.mode == MODE_STOPPED:
        return 0, 0, 0
    conc = conc_ug_per_ml
    periodic_ng = therapy.max_periodic_ng()
    day = -(-(therapy.max_window_ng(_DAY_MS) + periodic_ng) * 1000 // conc)
    peak = -(-peak_basal_ng_per_day(therapy) * 1000 // conc)
    hour = -(-periodic_ng * 1000 // conc)
    return day, peak, hour


def bolus_steps(therapy, boluses, catheter, conc_ug_per_ml, dose_ng, duration_ms, nl_per_step):
    """Steps a bolus may move, plus two for the step phase at its start and end: at the weakest drug it can reach in
    the catheter queue. It pushes the old drugs at their own strengths, in turn, while the basal and the other
    boluses in progress push them too: the reach is the drug mass of all of them over its duration, at the program's
    peak basal rate."""
    ng_per_day = peak_basal_ng_per_day(therapy)
    for b in boluses:
        ng_per_day += -(-b.dose_ng * _DAY_MS // b.duration_ms)
    reach_ng = dose_ng + -(-ng_per_day * duration_ms // _DAY_MS)
    conc = catheter.weakest(reach_ng, conc_ug_per_ml)
    return -(-dose_ng * 1000 // conc) // nl_per_step + 2


def gap_steps(rate_num, rate_den, gap_ms, nl_per_step):
    """Whole steps a volume rate of rate_num / rate_den nL/day moves in gap_ms: never more than were really moved."""
    return rate_num * gap_ms // (rate_den * _DAY_MS * nl_per_step)
