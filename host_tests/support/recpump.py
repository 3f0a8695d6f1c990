"""A Pump stand-in for the command layer's tests: records each method called with its arguments, and answers the
methods that return a value (bridge volume, a refill's reconciliation, holds left, alarms acknowledged, silence
granted) with set values."""


class _Catheter:
    def __init__(self, old_nl):
        self.old_nl = old_nl


class _Plan:
    def __init__(self, old_nl):
        self.catheter = _Catheter(old_nl)


class _Forecast:
    def __init__(self, eri_days, eos_days):
        self.eri_days = eri_days
        self.eos_days = eos_days


class RecordingPump:
    """`calls` lists (method name, arguments...) in order; the signatures are the Pump's (pump.controller)."""

    def __init__(self, bridge_nl=0, holds=0, acknowledged=0, granted_ms=0, last_refill=(None, None, 1000, 0),
                 forecast=(None, None)):
        self.calls = []
        self.audits = []  # (counter, opcode | role << 8 | result << 16, content hash lo, hi) of each audited command
        self.forecast = _Forecast(*forecast)  # (days to ERI, to EOS) as the battery forecast leaves them
        self.last_refill = last_refill  # (expected, aspirated, tolerance, difference) µL, as Pump.refill leaves it
        self.plan = _Plan(bridge_nl)
        self._holds = holds
        self._acknowledged = acknowledged
        self._granted_ms = granted_ms

    def program(self, doc, confirm_soft=False, now=None, check_library=True, confirm_battery=False):
        self.calls.append(("program", doc, confirm_soft, check_library, confirm_battery, now))

    def refill(self, fill_ul, conc_ug_per_ml=None, now=None, aspirated_ul=None):
        self.calls.append(("refill", fill_ul, conc_ug_per_ml, aspirated_ul, now))

    def prime(self, volume_ul=None, now=None):
        self.calls.append(("prime", volume_ul, now))

    def clinician_bolus_ng(self, dose_ng, duration_min, confirm_soft=False, now=None):
        self.calls.append(("clinician_bolus_ng", dose_ng, duration_min, confirm_soft, now))

    def patient_bolus(self, now=None):
        self.calls.append(("patient_bolus", now))

    def suspend(self, now=None):
        self.calls.append(("suspend", now))

    def resume(self, now=None):
        self.calls.append(("resume", now))

    def resume_after_alarm(self, now=None):
        self.calls.append(("resume_after_alarm", now))
        return self._holds

    def acknowledge(self, code=0, now=None):
        self.calls.append(("acknowledge", code, now))
        return self._acknowledged

    def silence(self, ms, now=None):
        self.calls.append(("silence", ms, now))
        return self._granted_ms

    def set_clock(self, wall_s, now=None):
        self.calls.append(("set_clock", wall_s, now))

    def set_trial(self, doc, confirm_soft=False, now=None):
        self.calls.append(("set_trial", doc, confirm_soft, now))

    def pain_score(self, score, baseline, side_effects=0, free_code=0, role=0, now=None):
        self.calls.append(("pain_score", score, baseline, side_effects, free_code, role, now))

    def audit(self, counter, command, lo, hi):
        self.audits.append((counter, command, lo, hi))

    def stop(self, now=None):
        self.calls.append(("stop", now))
