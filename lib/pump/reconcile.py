"""The Pump's refill reconciliation (a mixin of pump.controller.Pump): the expected residual, and what a refill's
aspirated volume against it logs and raises (the arithmetic is pump.refillcheck's)."""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes it uses are the Pump's, pump.controller and pump.dosing)

from pump import events as ev
from pump.alarms import A_REFILL_DISCREPANCY
from pump.refillcheck import UNKNOWN, discrepancy_ul, tolerance_ul


class Reconciler:
    """Needs the Pump's `reservoir`, `residual_known`, `cfg`, `safety` and `_event`."""

    def expected_residual_ul(self):
        """The reservoir estimate in whole µL (never below 0), None when its record was lost at a boot."""
        return max(self.reservoir.remaining_nl, 0) // 1000 if self.residual_known else None

    def _reconcile(self, now, expected_ul, aspirated_ul):
        """Log the refill's residual; a discrepancy (pump.refillcheck) is logged and latches a medium alarm until
        acknowledged (across a reset too). Sets `last_refill` = (expected, aspirated, tolerance, difference)."""
        cfg = self.cfg
        tol = tolerance_ul(expected_ul or 0, cfg.refill_tolerance_ul, cfg.refill_tolerance_pct)
        diff = discrepancy_ul(expected_ul, aspirated_ul, cfg.refill_tolerance_ul, cfg.refill_tolerance_pct)
        self.last_refill = (expected_ul, aspirated_ul, tol, diff)
        self._event(ev.REFILL_RESIDUAL, UNKNOWN if expected_ul is None else expected_ul,
                    UNKNOWN if aspirated_ul is None else aspirated_ul)
        if diff:
            self._event(ev.REFILL_DISCREPANCY, diff, tol)
            self.safety.latch(A_REFILL_DISCREPANCY, now)
