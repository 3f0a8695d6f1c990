"""Patient bolus policy: lockout interval and rolling 24-hour maximum, with the refusal reason as an error code."""

from pump.compat import const
from pump.errors import E_DAILY_MAX, E_LOCKOUT, E_NO_BOLUS

_DAY_S = const(86400)
MAX_GRANTS = const(48)


class PatientBolusPolicy:
    """Remembers grant times (wall seconds) of the last 24 h; a grant time in the future counts as recent."""

    def __init__(self):
        self.grants_s = []  # ascending wall seconds of grants within the last day

    def check(self, wall_s, patient_bolus):
        """0 when a patient bolus may start at wall_s, else the refusal code."""
        if patient_bolus is None or patient_bolus.max_per_day == 0:
            return E_NO_BOLUS
        self._forget(wall_s)
        if self.grants_s and (wall_s - self.grants_s[-1]) * 1000 < patient_bolus.lockout_ms:
            return E_LOCKOUT
        if len(self.grants_s) >= patient_bolus.max_per_day:
            return E_DAILY_MAX
        return 0

    def grant(self, wall_s):
        self._forget(wall_s)
        self.grants_s.append(wall_s)
        if len(self.grants_s) > MAX_GRANTS:
            self.grants_s.pop(0)

    def _forget(self, wall_s):
        keep = [t for t in self.grants_s if wall_s - t < _DAY_S]
        self.grants_s = keep
