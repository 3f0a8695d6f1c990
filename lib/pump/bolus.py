"""Patient bolus policy: lockout interval and rolling 24-hour maximum, with the refusal reason as an error code."""

from pump.compat import const
from pump.errors import E_DAILY_MAX, E_LOCKOUT, E_NO_BOLUS

_DAY_S = const(86400)
MAX_GRANTS = const(48)


class PatientBolusPolicy:
    """Remembers the grant times of the last 24 h in monotonic seconds (pump.monoclock): a wall-clock change of any
    size neither opens nor closes the lockout or the daily maximum. A grant time after `mono_s` (a monotonic clock
    never gives one; a defence against a corrupt record) counts as recent."""

    def __init__(self):
        self.grants_mono_s = []  # ascending monotonic seconds of grants within the last day

    def check(self, mono_s, patient_bolus):
        """0 when a patient bolus may start at monotonic second mono_s, else the refusal code."""
        if patient_bolus is None or patient_bolus.max_per_day == 0:
            return E_NO_BOLUS
        self._forget(mono_s)
        grants = self.grants_mono_s
        if grants and (mono_s - grants[-1]) * 1000 < patient_bolus.lockout_ms:
            return E_LOCKOUT
        if len(grants) >= patient_bolus.max_per_day:
            return E_DAILY_MAX
        return 0

    def grant(self, mono_s):
        self._forget(mono_s)
        self.grants_mono_s.append(mono_s)
        if len(self.grants_mono_s) > MAX_GRANTS:
            self.grants_mono_s.pop(0)

    def _forget(self, mono_s):
        keep = [t for t in self.grants_mono_s if mono_s - t < _DAY_S]
        self.grants_mono_s = keep
