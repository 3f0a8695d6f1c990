"""Refill reconciliation: the volume aspirated from the reservoir before a refill against the pump's expected residual.

The expected residual is the reservoir estimate (pump.reservoir) just before the refill, in whole µL; it is unknown
after a boot that lost the reservoir's record (then nothing is judged: no false alarm). A difference beyond the
tolerance, the larger of `tol_ul` and `tol_pct` % of the expected residual (config refill_tolerance_ul and
refill_tolerance_pct), is a discrepancy: more came back than expected (under-delivery: an occlusion, a calibration
error) or less (over-delivery, a leak, or drug injected outside the reservoir: a pocket fill). Cold path.
"""

from pump.compat import const
from pump.errors import E_RANGE, PumpError
from pump.units import as_int

UNKNOWN = const(-1)  # the event log's value of an expected residual not known or an aspirated volume not measured


def check_aspirated_ul(aspirated_ul, reservoir_ul):
    """The aspirated volume as the pump takes it: None when not measured, else 0 .. the reservoir's capacity (nothing
    more can come out of it); E_RANGE naming the key otherwise."""
    if aspirated_ul is None:
        return None
    v = as_int(aspirated_ul, "aspirated_ul")
    if not 0 <= v <= reservoir_ul:
        raise PumpError(E_RANGE, "aspirated_ul: %d: allowed 0..%d (the reservoir's capacity), or not measured" % (
            v, reservoir_ul))
    return v


def tolerance_ul(expected_ul, tol_ul, tol_pct):
    """The largest difference that is not a discrepancy: max(tol_ul, tol_pct % of the expected residual)."""
    return max(tol_ul, (expected_ul * tol_pct + 99) // 100)


def discrepancy_ul(expected_ul, aspirated_ul, tol_ul, tol_pct):
    """aspirated - expected (µL) when beyond the tolerance, else 0; 0 when either volume is unknown (None)."""
    if expected_ul is None or aspirated_ul is None:
        return 0
    diff = aspirated_ul - expected_ul
    return diff if abs(diff) > tolerance_ul(expected_ul, tol_ul, tol_pct) else 0

