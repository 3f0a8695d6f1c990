"""Event codes of the event log: stable numbers, what their two arguments mean, short texts for console and phone."""

from pump.compat import const

# Stable numbers: never renumber or reuse, only append. 0 is never a valid code. Every event-log record carries two
# signed 32-bit arguments a and b (pump.eventlog); an argument an event does not use is 0. Volumes in integer µL or
# nL, doses in ng (µg * 1000), codes from pump.errors / pump.alarms, as noted per event.
BOOT = const(1)  # a: reset cause (pump.config.RESET_*)
PROGRAM = const(2)  # program accepted and active; a: therapy mode
PROGRAM_REJECTED = const(3)  # a: pump.errors code
REFILL = const(4)  # a: fill volume µL
PRIME = const(5)  # a: priming volume nL
BOLUS_GRANTED = const(6)  # a: dose ng, b: BOLUS_PATIENT or BOLUS_CLINICIAN
BOLUS_REFUSED = const(7)  # a: pump.errors code (the reason), b: BOLUS_PATIENT or BOLUS_CLINICIAN
BOLUS_DONE = const(8)  # a: delivered ng (the whole dose), b: kind (BOLUS_*)
BOLUS_CANCELLED = const(9)  # a: ng delivered before the cancel (dose x elapsed / duration, rounded down), b: kind
SUSPEND = const(10)  # a: reason (0 user, else the alarm code that suspended)
RESUME = const(11)
STOP = const(12)
CLOCK_SET = const(13)  # a: step in s (new - old wall time, clamped to i32); b: schedule phases in force (pump.phases,
# 1: the schedule follows the new clock at once; more: it phases in over a day); the record's t_s is the new time
LOW_RESERVOIR = const(14)  # a: remaining µL
EMPTY_RESERVOIR = const(15)  # a: remaining µL
ALARM_RAISED = const(16)  # a: alarm code
ALARM_CLEARED = const(17)  # a: alarm code
ALARM_ACK = const(18)  # a: alarm code
TASK_FAULT = const(19)  # a: task id, b: error code if any
STORE_CORRUPT = const(20)  # at boot, a: slots/records that failed their check, b: which store (STORE_*)
AUTH_LOCKOUT = const(21)  # BLE commands locked out after repeated authentication failures; a: seconds, b: level
PROGRAM_UNCHECKED = const(22)  # the stored program runs without the drug library's check; a: that check's error
CLOCK_INVALID = const(23)  # the RTC read outside the valid range at boot (the checkpoint's time kept); a: its s
SESSION_FAILED = const(24)  # a BLE secure session refused; a: pump.errors code, b: role asked (0: none)
SESSION_OPENED = const(25)  # a BLE secure session opened; a: role
REFILL_RESIDUAL = const(26)  # with every refill, before REFILL: a: the expected residual µL (-1: unknown, the
# reservoir's record was lost), b: the volume aspirated µL (-1: not measured) (pump.refillcheck)
REFILL_DISCREPANCY = const(27)  # the aspirated volume beyond the tolerance; a: aspirated - expected µL, b: tolerance
CLOCK_NOT_SET = const(28)  # at boot: the wall clock is not known (never set, or the RTC lost it); a: CLOCK_* reason
BATTERY_CONFIRMED = const(29)  # a program accepted with its battery check confirmed; a: days to the elective
# replacement at it (-1: no 90-day warning possible at its rate), b: pump.errors code the confirmation overrode
TRIAL_PROGRAMMED = const(32)  # a screening trial accepted (pump.trial); a: start day, b: planned end day (days since
# 2000-01-01)
TRIAL_STEP = const(33)  # the pump applied titration step a (0 first) as its program; b: its dose ng/day
TRIAL_END = const(34)  # no further titration step; a: steps applied, b: why (pump.screening END_*)
PAIN_SCORE = const(35)  # a: score 0..10 | 16 if baseline | role << 8; b: side-effect mask (pump.trial.SIDE_EFFECTS)
# | free code << 16 (pump.trial.unpack_score)
COMMAND = const(36)  # a signed command that changes therapy ran (audit); a: its counter (u32 as i32),
# b: opcode | role << 8 | result << 16 (0 applied, else the pump.errors code that refused it); CONTENT follows
CONTENT = const(37)  # the command's content hash: a, b the first 8 bytes of SHA-256 of its parameters as signed (for
# a program or a trial: the flags byte, then the JSON text), two little-endian i32 (pump.commands.content_hash)

# Values of argument b. The bolus kinds are the dose plan's too (pump.doseplan): one numbering, on the wire and in
# stored logs. A periodic bolus (the program's own schedule) is never granted or refused, only done or cancelled.
BOLUS_PATIENT = const(1)
BOLUS_CLINICIAN = const(2)
BOLUS_PERIODIC = const(3)
BOLUS_NAMES = ("", "patient", "clinician", "periodic")  # by kind
STORE_STATE = const(1)
STORE_LOG = const(2)
STORE_PROG = const(3)
STORE_CMDAUTH = const(4)
STORE_TRIAL = const(5)
CLOCK_NEVER_SET = const(1)  # a first boot whose RTC read outside the valid range
CLOCK_LOST = const(2)  # the RTC read outside the valid range, or before the last checkpoint: it lost power
CLOCK_STILL_UNSET = const(3)  # not set since an earlier boot found it unknown

TEXT = {
    BOOT: "boot",
    PROGRAM: "program changed",
    PROGRAM_REJECTED: "program rejected",
    REFILL: "refill",
    PRIME: "prime",
    BOLUS_GRANTED: "bolus granted",
    BOLUS_REFUSED: "bolus refused",
    BOLUS_DONE: "bolus done",
    BOLUS_CANCELLED: "bolus cancelled",
    SUSPEND: "suspended",
    RESUME: "resumed",
    STOP: "stopped",
    CLOCK_SET: "clock set",
    LOW_RESERVOIR: "reservoir low",
    EMPTY_RESERVOIR: "reservoir empty",
    ALARM_RAISED: "alarm raised",
    ALARM_CLEARED: "alarm cleared",
    ALARM_ACK: "alarm acknowledged",
    TASK_FAULT: "task fault",
    STORE_CORRUPT: "store corrupt",
    AUTH_LOCKOUT: "commands locked out",
    PROGRAM_UNCHECKED: "program not checked by library",
    CLOCK_INVALID: "clock invalid",
    SESSION_FAILED: "BLE session refused",
    SESSION_OPENED: "BLE session opened",
    TRIAL_PROGRAMMED: "trial programmed",
    TRIAL_STEP: "trial step",
    TRIAL_END: "trial titration ended",
    PAIN_SCORE: "pain score",
    COMMAND: "command",
    CONTENT: "command content",
    REFILL_RESIDUAL: "refill residual",
    REFILL_DISCREPANCY: "refill discrepancy",
    CLOCK_NOT_SET: "clock not set",
    BATTERY_CONFIRMED: "battery check confirmed",
}

# Names of the arguments (a, b), "" when unused: lets the console and the phone label values without a second table.
ARGS = {
    BOOT: ("reset_cause", ""),
    PROGRAM: ("mode", ""),
    PROGRAM_REJECTED: ("error", ""),
    REFILL: ("fill_ul", ""),
    PRIME: ("volume_nl", ""),
    BOLUS_GRANTED: ("dose_ng", "kind"),
    BOLUS_REFUSED: ("error", "kind"),
    BOLUS_DONE: ("delivered_ng", "kind"),
    BOLUS_CANCELLED: ("delivered_ng", "kind"),
    SUSPEND: ("reason", ""),
    RESUME: ("", ""),
    STOP: ("", ""),
    CLOCK_SET: ("step_s", "phases"),
    LOW_RESERVOIR: ("remaining_ul", ""),
    EMPTY_RESERVOIR: ("remaining_ul", ""),
    ALARM_RAISED: ("alarm", ""),
    ALARM_CLEARED: ("alarm", ""),
    ALARM_ACK: ("alarm", ""),
    TASK_FAULT: ("task", "error"),
    STORE_CORRUPT: ("count", "store"),
    AUTH_LOCKOUT: ("lockout_s", "level"),
    PROGRAM_UNCHECKED: ("error", ""),
    CLOCK_INVALID: ("rtc_s", ""),
    SESSION_FAILED: ("error", "role"),
    SESSION_OPENED: ("role", ""),
    TRIAL_PROGRAMMED: ("start_day", "end_day"),
    TRIAL_STEP: ("step", "dose_ng_per_day"),
    TRIAL_END: ("steps", "why"),
    PAIN_SCORE: ("score", "side_effects"),
    COMMAND: ("counter", "command"),
    CONTENT: ("sha256_lo", "sha256_hi"),
    REFILL_RESIDUAL: ("expected_ul", "aspirated_ul"),
    REFILL_DISCREPANCY: ("difference_ul", "tolerance_ul"),
    CLOCK_NOT_SET: ("reason", ""),
    BATTERY_CONFIRMED: ("eri_days", "error"),
}


def text(code):
    """Short text for an event code; unknown codes (from newer firmware) read as "event <n>"."""
    t = TEXT.get(code)
    return t if t is not None else "event %d" % code


def args(code):
    """(name of a, name of b) for an event code, "" for an unused argument; ("a", "b") for unknown codes."""
    return ARGS.get(code, ("a", "b"))
