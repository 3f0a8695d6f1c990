"""Error codes a phone can show: one small exception class carrying a stable number and a short message."""

from pump.compat import const

# Stable numbers: never renumber, only add. 1xx input, 2xx limits, 3xx state, 4xx storage, 5xx auth, 6xx the
# clinical pathway (refill, battery, time).
E_MALFORMED = const(100)  # missing key, wrong type, unparsable value
E_RANGE = const(101)  # value outside what the firmware can represent or the hardware can do
E_SCHEDULE = const(102)  # flex schedule not ordered / too many steps / bad time
E_UNKNOWN_DRUG = const(103)
E_FRAME = const(104)  # BLE frame refused: CRC, version, fragment order or length
E_OPCODE = const(105)  # unknown command opcode
E_HARD_LIMIT = const(200)  # drug library hard limit broken: always rejected
E_SOFT_LIMIT = const(201)  # soft limit broken and not confirmed
E_CONC_MISMATCH = const(202)  # program concentration differs from the reservoir's drug
E_STATE = const(300)  # command not allowed in the current pump state
E_LOCKOUT = const(301)  # patient bolus inside its lockout interval
E_DAILY_MAX = const(302)  # patient bolus over its daily maximum
E_NO_BOLUS = const(303)  # patient bolus not enabled by the program
E_RESERVOIR = const(304)  # not enough drug for the request
E_CORRUPT = const(400)  # stored record failed its CRC or format check
E_STORAGE = const(401)  # storage device failed
E_AUTH = const(500)  # command MAC wrong or role unknown
E_REPLAY = const(501)  # command counter not above the last one accepted for its role
E_ROLE = const(502)  # the role may not send this command
E_AUTH_LOCKOUT = const(503)  # commands locked out after repeated authentication failures
E_NO_KEYS = const(504)  # no command keys provisioned on this pump
E_INSECURE = const(505)  # the link is not encrypted, or not authenticated (MITM) where that is required
E_COUNTERS_LOST = const(506)  # the command counters were lost: commands refused until new keys are provisioned
E_COUNTER_AHEAD = const(507)  # command counter more than cmdauth.MAX_COUNTER_STEP above the last one accepted
E_BATTERY_ERI = const(600)  # the program would bring the elective replacement within 90 days: confirm (flags bit 1)
# 61x: the screening trial
E_NO_TRIAL = const(610)  # a pain score without a trial program
E_NO_BASELINE = const(611)  # a trial score before any baseline score was entered
E_TRIAL_STARTED = const(612)  # a baseline score on or after the trial's start day
E_TRIAL_NOT_STARTED = const(613)  # a trial score before the trial's start day (scores then are baseline scores)

MESSAGES = {
    E_MALFORMED: "malformed input",
    E_RANGE: "value out of range",
    E_SCHEDULE: "invalid schedule",
    E_UNKNOWN_DRUG: "drug not in library",
    E_FRAME: "bad frame",
    E_OPCODE: "unknown command",
    E_HARD_LIMIT: "hard limit exceeded",
    E_SOFT_LIMIT: "soft limit needs confirmation",
    E_CONC_MISMATCH: "concentration mismatch",
    E_STATE: "not allowed now",
    E_LOCKOUT: "bolus lockout active",
    E_DAILY_MAX: "daily bolus maximum reached",
    E_NO_BOLUS: "patient bolus not enabled",
    E_RESERVOIR: "reservoir too low",
    E_CORRUPT: "stored data corrupt",
    E_STORAGE: "storage failure",
    E_AUTH: "authentication failed",
    E_REPLAY: "stale command counter",
    E_ROLE: "role not permitted",
    E_AUTH_LOCKOUT: "commands locked out",
    E_NO_KEYS: "no command keys",
    E_INSECURE: "link not secure enough",
    E_COUNTERS_LOST: "command counters lost: new keys needed",
    E_COUNTER_AHEAD: "command counter too far ahead",
    E_BATTERY_ERI: "battery replacement within 90 days: confirm",
    E_NO_TRIAL: "no trial programmed",
    E_NO_BASELINE: "no baseline pain score yet",
    E_TRIAL_STARTED: "trial already started",
    E_TRIAL_NOT_STARTED: "trial not started yet",
}


class PumpError(Exception):
    """A refused input or action: `code` is stable, `detail` names what was wrong (e.g. the bad key)."""

    def __init__(self, code, detail=""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self):
        base = MESSAGES.get(self.code, "error")
        return "E%d %s: %s" % (self.code, base, self.detail) if self.detail else "E%d %s" % (self.code, base)
