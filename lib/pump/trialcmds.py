"""The Pump's screening-trial commands (a mixin of pump.controller.Pump): the trial program, the titration step the
pump applies as its own program when a day begins, and pain scores, each validated before anything changes."""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes it uses are the Pump's, pump.controller and pump.dosing)

from pump import events as ev
from pump.errors import (E_CONC_MISMATCH, E_NO_BASELINE, E_NO_TRIAL, E_TRIAL_NOT_STARTED, E_TRIAL_STARTED,
                         E_UNKNOWN_DRUG, PumpError)
from pump.screening import END_PLANNED
from pump.trial import check_score, parse_trial


class TrialCommands:
    """Needs the Pump's `screening`, `library`, `nl_per_step`, `plan`, `program`, `wall_s`, `_now` and `_event`."""

    def set_trial(self, doc, confirm_soft=False, now=None):
        """A screening trial program: every titration step checked as a program; the step due today starts at once
        (or on the start day); a refusal is logged and changes nothing."""
        now = self._now(now)
        try:
            if self.library is None:
                raise PumpError(E_UNKNOWN_DRUG, "trial: no drug library loaded")
            trial = parse_trial(doc, self.library, self.nl_per_step, confirm_soft)
            conc = self.plan.conc_ug_per_ml
            if conc and doc["drug"].get("concentration_ug_per_ml") != conc:
                raise PumpError(E_CONC_MISMATCH, "trial.drug.concentration_ug_per_ml: reservoir holds %d ug/mL" % conc)
        except PumpError as e:
            self._event(ev.PROGRAM_REJECTED, e.code)
            raise
        self.screening.program(trial, confirm_soft)
        self._event(ev.TRIAL_PROGRAMMED, trial.start_day, trial.end_day)
        self._trial_advance(now)
        return trial

    def _trial_advance(self, now):
        """The titration step due today, at most one step further than the one applied (a clock set days ahead, or
        days off, move it by one step per day the pump sees begin), never back; the planned end is logged, and the
        last step runs on: a trial never stops therapy by itself."""
        s = self.screening
        if not s.titrating:
            return
        trial = s.trial
        today = self.wall_s(now) // 86400
        if trial.step_due(today) > s.step:
            i = s.step + 1
            self._trial_stepping = True
            try:
                # the battery check stands confirmed: the clinician chose the titration's doses in one signed
                # command, and a step the forecast refused would stall the trial at a lower dose day after day
                self.program(trial.program_doc(i), s.confirm, now, True, True)
            except PumpError:  # logged (PROGRAM_REJECTED): the step in force runs on; tried again the next day
                return
            finally:
                self._trial_stepping = False
            s.applied(i)
            self._event(ev.TRIAL_STEP, i, trial.steps[i][1])
        if today >= trial.end_day:
            s.end(END_PLANNED)
            self._event(ev.TRIAL_END, s.step + 1, END_PLANNED)

    def pain_score(self, score, baseline, side_effects=0, free_code=0, role=0, now=None):
        """Record a pain score (0-10) with side effects, by `role`: baseline scores before the trial's start day,
        trial scores from it on, once a baseline was entered. Refused (PumpError) otherwise; logged when taken."""
        now = self._now(now)
        a, b = check_score(score, baseline, side_effects, free_code)
        s = self.screening
        if s.trial is None:
            raise PumpError(E_NO_TRIAL, "pain: no trial programmed")
        started = self.wall_s(now) // 86400 >= s.trial.start_day
        if baseline and started:
            raise PumpError(E_TRIAL_STARTED, "pain.baseline: the trial has started: a baseline comes before")
        if not baseline and not started:
            raise PumpError(E_TRIAL_NOT_STARTED, "pain.baseline: before the trial's start a score is a baseline")
        if not baseline and not s.baseline:
            raise PumpError(E_NO_BASELINE, "pain: no baseline score was entered before the trial")
        if baseline:
            s.add_baseline()
        self._event(ev.PAIN_SCORE, a | role << 8, b)

