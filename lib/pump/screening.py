"""The screening trial the pump keeps across resets: the trial program, the titration step applied, whether baseline
pain was entered and whether the titration has ended, in one two-slot store ("trial"); the scores themselves live in
the event log beside dosing.

Record (JSON): {"trial": the trial document, "confirm": soft limits confirmed, "step": index applied (-1: none),
"baseline": baseline scores entered, "ended": 0 running, else END_* why the titration ended}.
"""

import json

from pump.compat import const
from pump.errors import E_CORRUPT, PumpError
from pump.store import Store
from pump.trial import parse_date, parse_trial

END_PLANNED = const(1)  # the trial reached its planned end: the last step runs on until the clinician decides
END_PROGRAM = const(2)  # the clinician programmed (or stopped) the pump during the trial: no further step
END_UNREADABLE = const(3)  # the stored trial no longer passes the drug library at boot: no further step
_MAX_BYTES = const(2048)


class Screening:
    """The trial state on `storage`; `trial` is None when no trial was programmed."""

    def __init__(self, storage):
        self._store = Store(storage, "trial", max_payload=_MAX_BYTES)
        self.trial = None
        self._doc = {}  # the trial's document as programmed
        self.confirm = False
        self.step = -1
        self.baseline = 0
        self.ended = 0
        self.rotten = 0  # slots the last load found unreadable for a reason no power cut explains

    def load(self, library, nl_per_step):
        """Take the stored trial back; returns 0, or the error code of a stored trial the library now refuses (its
        titration is ended: a step the library would refuse is never applied). A storage failure raises."""
        rec = self._store.load(_parse_record)
        self.rotten = self._store.rotten_slots
        if rec is None:
            return 0
        doc, self.confirm, self.step, self.baseline, self.ended = rec
        self._doc = doc
        try:
            self.trial = parse_trial(doc, library, nl_per_step, self.confirm)
        except PumpError as e:
            self.trial = _Unchecked(doc)
            if not self.ended:
                self.ended = END_UNREADABLE
            return e.code
        return 0

    @property
    def titrating(self):
        return self.trial is not None and not self.ended

    def program(self, trial, confirm):
        """A new trial program (saved first): titration starts afresh; baseline scores stay (they are the patient's)."""
        old = self._doc, self.confirm
        self._doc, self.confirm = trial.doc, confirm
        try:
            self._save(-1, self.baseline, 0)
        except PumpError:
            self._doc, self.confirm = old
            raise
        self.trial, self.step, self.ended = trial, -1, 0

    def applied(self, step):
        self._save(step, self.baseline, self.ended)
        self.step = step

    def end(self, why):
        self._save(self.step, self.baseline, why)
        self.ended = why

    def add_baseline(self):
        self._save(self.step, self.baseline + 1, self.ended)
        self.baseline += 1

    def _save(self, step, baseline, ended):
        rec = {"trial": self._doc, "confirm": self.confirm, "step": step, "baseline": baseline, "ended": ended}
        self._store.save(json.dumps(rec).encode())


class _Unchecked:
    """A stored trial the library refuses: its document and dates are kept for the scores, its steps never run."""

    def __init__(self, doc):
        self.doc = doc
        self.steps = ()
        try:
            self.start_day = parse_date(doc.get("start"), "trial.start")
            self.end_day = parse_date(doc.get("end"), "trial.end")
        except PumpError:  # no dates either: every score counts as taken during the trial
            self.start_day = self.end_day = 0


def _parse_record(payload, version):
    try:
        rec = json.loads(payload)
        doc, confirm, step, baseline, ended = (rec["trial"], rec["confirm"], rec["step"], rec["baseline"],
                                               rec["ended"])
    except Exception:  # noqa: BLE001 - ValueError, KeyError, TypeError: not a trial record
        raise PumpError(E_CORRUPT, "trial: record")
    ints = type(step) is int and type(baseline) is int and type(ended) is int
    if type(doc) is not dict or type(confirm) is not bool or not ints or step < -1 or baseline < 0:
        raise PumpError(E_CORRUPT, "trial: record")
    return doc, confirm, step, baseline, ended
