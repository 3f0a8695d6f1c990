"""Boot: the state and program stores read back and judged, so no stored value can make the boot fail or silently
change therapy. Each record is checked against its ranges (one that does not parse is a storage fault like a bad
CRC, and the other slot is tried); the verdicts say what the pump may trust and what it must raise.

- state: FIRST on a new pump (neither store holds a record: no blob, or only its first save torn by a power cut),
  OK, or LOST (records there, none readable, or a program stored without any state: the reservoir, the holds and
  the user's suspend are unknown; the pump holds dosing with an alarm until a clinician confirms).
- program: the one applied last, or a FALLBACK (the program store is older than the program the last checkpoint
  says was applied, none of its records reads, or it cannot run on the drug the reservoir holds): held with a
  high-priority alarm. A program store *newer* than the checkpoint is a command whose checkpoint was lost (a power
  cut between saving the program and the checkpoint after it, or that checkpoint's slot rotten): not a fallback.
  When its strength differs from the checkpoint's drug it was a refill with a new strength (a program command
  keeps the reservoir's strength): `refill_lost`, the reservoir holds the program's drug in a volume not known and
  the catheter the checkpoint's (the pump holds until a clinician confirms, as for a lost state).
- unchecked: the drug library is missing, or it rejects the stored program (limits tightened, drug removed): the
  program validated when it was programmed keeps running, its structure checked again, with a medium alarm.

Nothing here raises but a storage failure (E_STORAGE).
"""

import json

from pump import events as ev
from pump.checkpoint import unpack
from pump.compat import const
from pump.errors import E_CORRUPT, PumpError
from pump.store import newer
from pump.prescription import parse_prescription

STATE_FIRST = const(0)
STATE_OK = const(1)
STATE_LOST = const(2)


def _program_doc(payload, version):
    """The stored prescription document; E_CORRUPT when it is not a JSON object (the store tries the other slot)."""
    try:
        doc = json.loads(payload)
    except Exception:  # noqa: BLE001 - ValueError, UnicodeError, RuntimeError (nested too deep): not a program
        raise PumpError(E_CORRUPT, "program: not JSON")
    if type(doc) is not dict:
        raise PumpError(E_CORRUPT, "program: not an object")
    return doc


def _conc(doc):
    """The strength a stored prescription names (None when it names none: the parse refuses it then)."""
    drug = doc.get("drug")
    return drug.get("concentration_ug_per_ml") if type(drug) is dict else None


class Stored:
    """The verdicts on the stores (module docstring). `counters` (a Counters, or None unless state is OK),
    `therapy` (or None), `fallback`, `refill_lost`, `unchecked` (the library check's error code, 0 when it
    passed), `rotten` (a slot failed a check no power cut explains), `events` [(code, a, b)] to log before the BOOT
    event."""

    def __init__(self, state_store, prog_store, library, nl_per_step):
        self.events = []
        self.rotten = False
        self.fallback = False
        self.refill_lost = False
        self.unchecked = 0
        self.therapy = None
        c = self.counters = state_store.load(unpack)
        self._judged(state_store, ev.STORE_STATE)
        doc = prog_store.load(_program_doc)
        self._judged(prog_store, ev.STORE_PROG)
        if c is not None:
            self.state = STATE_OK
        elif state_store.rotten_slots or prog_store.found_slots > prog_store.torn_slots:
            self.state = STATE_LOST  # records there but none readable, or a program stored without any state
        else:
            self.state = STATE_FIRST  # nothing, or only the first save of a new pump cut by a power failure
        applied = c.prog_seq if c is not None else None  # None: not known
        if doc is None:
            # none readable though records were there, or none while the checkpoint says one was applied
            self.fallback = prog_store.rotten_slots > 0 or bool(applied)
            return
        if applied is not None and newer(applied, prog_store.seq):
            self.fallback = True  # its newer slot was lost: an older prescription than the one applied
        conc = c.conc_ug_per_ml if c is not None else 0
        if applied is not None and conc and newer(prog_store.seq, applied) and _conc(doc) != conc:
            self.refill_lost = True  # the reservoir holds the program's drug, not the checkpoint's
            conc = 0
        self.therapy = self._therapy(doc, library, nl_per_step, conc)
        if self.therapy is None:
            self.fallback = True
            self.refill_lost = False

    def _judged(self, store, which):
        if store.failed_slots:
            self.events.append((ev.STORE_CORRUPT, store.failed_slots, which))
        if store.rotten_slots:
            self.rotten = True

    def _therapy(self, doc, library, nl_per_step, conc_ug_per_ml):
        """The stored program as the pump may run it, or None when it cannot be trusted."""
        try:
            therapy = parse_prescription(doc, None, nl_per_step, True, False)  # its structure, at its own strength
        except PumpError:
            return None  # not a program this firmware can read
        try:
            therapy = parse_prescription(doc, library, nl_per_step, True)  # and the drug library's limits
        except PumpError as e:
            self.unchecked = e.code  # no library, the drug gone from it, or its limits now broken: kept running
        if conc_ug_per_ml and therapy.conc_ug_per_ml != conc_ug_per_ml:
            # the dose plan paces it at the drug the reservoir holds: its rates must be possible at that strength
            other = dict(doc)
            other["drug"] = {"name": therapy.drug, "concentration_ug_per_ml": conc_ug_per_ml}
            try:
                parse_prescription(other, None, nl_per_step, True, False)
            except PumpError:
                return None
        return therapy
