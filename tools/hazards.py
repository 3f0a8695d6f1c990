"""Hazard list: each hazard, its mitigation in the firmware and the tests that show it; checks that every one of those
tests fails when its mitigation is taken out.

`python -m tools.hazards --markdown` prints docs/hazards.md (a test keeps the file in step with this table).
`python -m tools.hazards --check [ID ...]` copies the repository to a scratch folder once per hazard, removes the
mitigation there (the `remove` edits: exact text, found once, replaced) and runs its tests with pytest: the check
passes when they fail. A mitigation whose tests still pass without it is not shown by them, and the run exits 1.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COPY = ("lib", "board", "tools", "host_tests", "pyproject.toml")

_SIM = "host_tests/test_sim.py::"
_APP = "host_tests/test_app.py::"
_LATCH = "host_tests/pure/test_safety_latch.py::"
_AUTH = "host_tests/pure/test_ble_auth.py::"
_BLE = "host_tests/pure/test_ble_service.py::"
_SESSION = "host_tests/pure/test_session.py::"
_VECTORS = "host_tests/pure/test_session_vectors.py::"

# id, hazard, cause, mitigation, [(file, text, replacement)], [pytest node ids]
HAZARDS = (
    ("H1", "Over-delivery", "a dose-engine fault steps faster than programmed",
     "an independent monitor counts the steps handed to the driver in 1 h and 24 h windows against the program's "
     "bounds (boluses granted as they start); a breach latches a high-priority alarm, holds dosing and disables "
     "the driver",
     [("lib/pump/safety.py", "if self.day_window.count(now, n) | self.hour_window.count(now, n):",
       "if (self.day_window.count(now, n) | self.hour_window.count(now, n)) and False:")],
     [_LATCH + "test_a_dose_engine_delivering_three_times_the_program_is_caught_within_the_hour",
      _LATCH + "test_a_runaway_engine_is_caught_within_one_hour_allowance"]),
    ("H2", "Over-delivery", "a reset during a safety hold restarts dosing (into a blocked line, or after a breach)",
     "holds in force and unacknowledged fault alarms are saved with the counters and restored at boot; the "
     "occlusion baseline is saved so the resume is judged against it",
     [("lib/pump/controller.py", "safety.restore(c.latched, c.occ_base_kpa_x10, c.occ_jump_x256, now)", "pass")],
     [_LATCH + "test_an_over_delivery_hold_survives_a_reset_until_resumed",
      _SIM + "test_an_occlusion_hold_outlives_a_reset"]),
    ("H3", "Over-delivery", "a patient bolus requested again and again",
     "patient-bolus policy: lockout interval and daily maximum, refusals logged with their reason",
     [("lib/pump/bolus.py", "if self.grants_s and (wall_s - self.grants_s[-1]) * 1000 < patient_bolus.lockout_ms:",
       "if False:")],
     [_SIM + "test_lockout_and_daily_maximum_refusals_carry_their_reason"]),
    ("H4", "Wrong dose", "a program beyond the drug library's hard limits",
     "every program, bolus and refill is checked against the library; hard limits refuse, soft ones need a "
     "confirmation; the running program is untouched",
     [("lib/pump/therapy.py", "        if v[0] == E_HARD_LIMIT:\n            raise",
       "        if False:\n            raise")],
     ["host_tests/pure/test_controller.py::test_program_refusal_changes_nothing_and_is_logged"]),
    ("H5", "Wrong concentration", "a program for a concentration other than the reservoir's",
     "a program must name the concentration the reservoir holds; a refill with a new one re-validates the "
     "program and bridges the catheter at the old drug's dose",
     [("lib/pump/controller.py", "if conc and therapy.conc_ug_per_ml != conc:", "if False:")],
     ["host_tests/pure/test_controller.py::test_program_refusal_changes_nothing_and_is_logged"]),
    ("H6", "Under-delivery", "a blocked catheter (occlusion)",
     "pressure rise per delivered step against a tracked baseline: alarm within a few steps at any rate, dosing "
     "held until an explicit resume",
     [("lib/pump/safety.py", "if occ.state == OCCLUDED:", "if False:")],
     [_SIM + "test_full_occlusion_is_caught_held_backed_off_and_resumed[500-10000-0.16]"]),
    ("H7", "Over-delivery", "the drug held back by an occlusion flushes in when it clears",
     "the mechanism backs off the held-back volume at the alarm (bolus after clearing <= 2 uL)",
     [("lib/pump/safety.py", "self.hw.stepper.step_reverse(occ.backoff_steps(self.nl_per_step))", "pass")],
     [_SIM + "test_full_occlusion_is_caught_held_backed_off_and_resumed[5000-10000-0.8]"]),
    ("H8", "Air / empty reservoir", "pumping on with an empty reservoir",
     "reservoir accounting: low (medium) and empty (high) alarms; at empty, programmed delivery stops",
     [("lib/pump/controller.py", "empty = self.reservoir.state == STATE_EMPTY", "empty = False")],
     [_SIM + "test_empty_reservoir_stops_delivery_and_raises_low_then_empty"]),
    ("H9", "Battery depletion", "the battery runs out during therapy",
     "hourly battery sample: elective replacement indicator (>= 90 days ahead), end of service holds dosing",
     [("lib/pump/safety.py", "if state == STATE_EOS:", "if False:")],
     [_SIM + "test_battery_elective_replacement_and_end_of_service"]),
    ("H10", "Sensor failure", "a stuck, open, noisy or out-of-range pressure sensor",
     "plausibility checks on every reading: a sensor-fault alarm within the stated bound, dosing held, never a "
     "false or missed occlusion",
     [("lib/pump/safety.py",
       "        if fault != FAULT_NONE:\n            self._raise(al.A_PRESSURE_SENSOR_FAULT, now)",
       "        if False:\n            self._raise(al.A_PRESSURE_SENSOR_FAULT, now)")],
     [_SIM + "test_stuck_pressure_sensor_is_a_sensor_fault_not_an_occlusion_and_holds_dosing"]),
    ("H11", "Under-delivery", "a jammed mechanism (motor stall)",
     "encoder or driver stall input compared with the steps commanded; a stall alarm holds dosing",
     [("lib/pump/safety.py", "if self.stall is not None and self.stall.stalled:", "if False:")],
     [_SIM + "test_motor_stall_is_caught_within_a_few_steps_and_stops_dosing"]),
    ("H12", "Software hang", "a task stops running (dosing, console, a sounding alarm, BLE work)",
     "the hardware watchdog is fed only by the dosing task and only while every task that owes a wake-up has "
     "checked in with the supervisor on time; a watchdog reset is latched as an alarm and dosing resumes without "
     "catch-up",
     [("lib/pump/app.py", "if watchdog is not None and self.supervisor.healthy(now):", "if watchdog is not None:")],
     [_APP + "test_watchdog_is_fed_only_while_every_task_that_owes_a_wake_up_checks_in"]),
    ("H13", "Uncontrolled motor", "an exception in any task",
     "the driver is disabled first, then the fault is logged and latched, then the board resets",
     [("lib/pump/app.py", "        try:\n            self.hw.stepper.disable()\n        finally:",
       "        try:\n            pass\n        finally:"),
      ("lib/pump/controller.py", "        self.hw.stepper.disable()\n        self.halted = True",
       "        self.halted = True")],
     [_APP + "test_stepper_fault_disables_the_motor_before_logging"]),
    ("H14", "Data loss", "a power cut while the counters are written",
     "two store slots with sequence number and CRC-32: the newest valid one wins, at most one checkpoint lost",
     [("lib/pump/store.py", "if crc32(mv[:end]) != struct.unpack_from(\"<I\", blob, end)[0]:", "if False:")],
     ["host_tests/pure/test_store.py::test_power_cut_at_every_byte_of_a_save_into_slot_b",
      "host_tests/pure/test_store.py::test_corrupt_byte_anywhere_in_newest_falls_back_to_older"]),
    ("H15", "Unauthorised therapy change", "a forged BLE command (no key, or another role's key)",
     "every command carries an HMAC-SHA256 under its role's key from keys.json (provisioned over USB, never over "
     "BLE); a wrong MAC is refused and changes nothing",
     [("lib/pump/cmdauth.py", "if key is None or not equal(key.digest(mv[: n - TAG_LEN]), mv[n - TAG_LEN : n]):",
       "if key is None:")],
     [_AUTH + "test_forged_replayed_reordered_and_wrong_role_commands_are_refused",
      _BLE + "test_a_refused_command_changes_nothing_and_says_why"]),
    ("H16", "Unauthorised therapy change", "a recorded BLE command replayed, or sent out of order",
     "a strictly increasing counter per role, saved power-fail safe before the command runs",
     [("lib/pump/cmdauth.py", "if counter <= self.counters[role]:", "if False:")],
     [_AUTH + "test_forged_replayed_reordered_and_wrong_role_commands_are_refused",
      _AUTH + "test_a_power_cut_while_saving_the_counter_never_lets_a_command_run_twice"]),
    ("H17", "Unauthorised therapy change", "the patient's key used to program the pump",
     "a role table: programming, refill, prime, clinician bolus, suspend/resume and the clock need the "
     "clinician's key; the patient's key only asks for the programmed bolus and handles alarms",
     [("lib/pump/cmdauth.py", "if not allowed & (1 << role):", "if False:")],
     [_AUTH + "test_forged_replayed_reordered_and_wrong_role_commands_are_refused",
      _BLE + "test_a_refused_command_changes_nothing_and_says_why"]),
    ("H18", "Unauthorised therapy change", "a command through a link without MITM protection (a relay)",
     "the command point needs an authenticated (MITM) LE Secure Connections bond, checked by the stack and again "
     "by the service from the encryption update",
     [("lib/pump/bleservice.py", "            if not self.authenticated:\n                self._cmd_err",
       "            if False:\n                self._cmd_err")],
     [_BLE + "test_nothing_protected_before_encryption_and_commands_need_mitm"]),
    ("H19", "Unauthorised therapy change", "keys guessed by trying commands again and again",
     "after 5 failures in a row commands are locked out for 30 s, doubling up to 64 min, across resets; each "
     "lockout is logged",
     [("lib/pump/cmdauth.py", "if self.failures >= MAX_FAILURES:", "if False:")],
     [_AUTH + "test_lockout_grows_is_logged_and_survives_a_reset", _BLE + "test_lockout_over_ble_is_logged"]),
    ("H20", "Disclosure of health data", "an eavesdropper in radio range of a pump without link encryption (a stock "
     "Pico W) reads its status, alarms, history and prescriptions",
     "everything in a secure session is encrypted with AES-128-CTR under keys of that session and direction, derived "
     "from the role's key and both ends' fresh nonces (docs/ble.md, \"Secure session\")",
     [("lib/pump/seal.py", "        ctr.crypt(out, HEAD_LEN, n)\n", "")],
     [_SESSION + "test_a_sealed_message_shows_no_payload_and_never_repeats_its_keystream",
      _VECTORS + "test_both_ends_seal_and_open_every_message_of_the_vectors"]),
    ("H21", "Wrong therapy decision", "a message forged or altered on the air: telemetry a clinician acts on, or a "
     "command",
     "every sealed message carries a 16-byte HMAC-SHA256 tag under its direction's session key, checked in "
     "constant time before anything is decrypted or counted; a refused message changes nothing",
     [("lib/pump/seal.py", "if not equal_at(tag, 0, msg, end, TAG_LEN):", "if False:")],
     [_SESSION + "test_forged_replayed_reordered_and_misdirected_messages_are_refused_and_change_nothing",
      _VECTORS + "test_the_refused_messages_of_the_vectors_are_refused_with_their_code"]),
    ("H22", "Wrong therapy decision", "a recorded sealed message replayed or delivered out of order (an old "
     "\"no alarm\" status, a request again)",
     "a counter per stream and direction that must rise; each characteristic counts on its own, so messages that "
     "complete out of their sealing order across characteristics are still taken",
     [("lib/pump/seal.py", "if seq <= self.seqs[stream]:", "if False:")],
     [_SESSION + "test_forged_replayed_reordered_and_misdirected_messages_are_refused_and_change_nothing",
      _SESSION + "test_streams_count_on_their_own_so_interleaved_characteristics_complete_in_any_order"]),
    ("H23", "Unauthorised access", "a phone without the role's key opens a session (any phone can connect to a "
     "Pico W: no pairing)",
     "the handshake's mutual proof: the pump opens a session only for a CONFIRM whose proof needs the role's key "
     "and the pump's fresh nonce, one try per nonce; the central checks the pump's proof the same way",
     [("lib/pump/session.py", "if n != CONFIRM_LEN or not equal_at(msg, 1, okm, CENTRAL_PROOF, PROOF_LEN):",
       "if n != CONFIRM_LEN:")],
     [_SESSION + "test_a_central_without_the_roles_key_gets_no_session"]),
    ("H24", "Unauthorised access", "a recorded handshake replayed to the pump",
     "the pump takes a new nonce from os.urandom for every HELLO, so a recorded proof never fits again and every "
     "session has new keys",
     [("lib/pump/session.py", "nonce_p = bytes(self._urandom(NONCE_LEN))", "nonce_p = bytes(NONCE_LEN)")],
     [_SESSION + "test_a_recorded_confirm_replayed_to_a_new_challenge_is_refused",
      _SESSION + "test_each_handshake_takes_a_fresh_pump_nonce_and_gives_new_keys"]),
    ("H25", "Unauthorised therapy change", "a monitor's or a patient's session used to send another role's "
     "commands",
     "a sealed command must carry its session's role, a monitor session commands nothing, and no command accepts "
     "the monitor's key",
     [("lib/pump/session.py",
       "        if self.state == OPEN and self.role == ROLE_MONITOR:\n            return E_ROLE\n", ""),
      ("lib/pump/session.py", "if self.n < 2 or msg[1] != self.role:", "if self.n < 2:"),
      ("lib/pump/cmdauth.py", "key = self.keys.get(role) if role != ROLE_MONITOR else None",
       "key = self.keys.get(role)")],
     [_SESSION + "test_commands_travel_sealed_and_only_in_a_session_of_their_own_role",
      _AUTH + "test_the_monitor_key_is_optional_distinct_and_commands_nothing"]),
)


def markdown():
    """docs/hazards.md."""
    out = [
        "# Hazards, mitigations and the tests that show them",
        "",
        "Each mitigation below is shown by the tests named with it, and `make hazards` (part of `make test`) proves",
        "it: it removes the mitigation from a copy of the firmware (the edit in the last column) and the tests must",
        "fail. The table is `tools/hazards.py`; this file is generated from it (`python -m tools.hazards --markdown`).",
        "",
        "| ID | Hazard | Cause | Mitigation | Tests | Removed by |",
        "|----|--------|-------|------------|-------|------------|",
    ]
    for hid, hazard, cause, mitigation, remove, tests in HAZARDS:
        names = "<br>".join("`%s`" % t.split("::")[-1] for t in tests)
        files = "<br>".join("`%s`" % f for f, _old, _new in remove)
        out.append("| %s | %s | %s | %s | %s | edit in %s |" % (hid, hazard, cause, mitigation, names, files))
    out += [
        "",
        "Not in this table yet: the limits of each check, which `docs/safety.md` states with its detection bounds.",
        "The BLE protocol and its security model are in `docs/ble.md`.",
        "",
    ]
    return "\n".join(out)


def find_edits():
    """[(hazard id, file, problem)] for every removal edit whose text is not found exactly once."""
    problems = []
    for hid, _h, _c, _m, remove, _tests in HAZARDS:
        for path, old, _new in remove:
            with open(os.path.join(ROOT, path)) as f:
                n = f.read().count(old)
            if n != 1:
                problems.append((hid, path, "text found %d times" % n))
    return problems


def check(hid, remove, tests):
    """Run `tests` on a copy with the mitigation removed: (passed check?, seconds, pytest's last line)."""
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for name in _COPY:
            src = os.path.join(ROOT, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tmp, name), ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(src, tmp)
        for path, old, new in remove:
            full = os.path.join(tmp, path)
            with open(full) as f:
                text = f.read()
            if text.count(old) != 1:
                return False, 0.0, "%s: mitigation text not found once in %s" % (hid, path)
            with open(full, "w") as f:
                f.write(text.replace(old, new))
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly"] + tests
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    last = lines[-1] if lines else r.stderr.strip()[-200:]
    return r.returncode == 1, time.time() - t0, last  # 1: tests ran and failed; 0 passed; others: errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markdown", action="store_true", help="print docs/hazards.md")
    ap.add_argument("--check", action="store_true", help="remove each mitigation; its tests must fail")
    ap.add_argument("ids", nargs="*", help="only these hazards (e.g. H1 H6)")
    args = ap.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    bad = 0
    for hid, hazard, _cause, _m, remove, tests in HAZARDS:
        if args.ids and hid not in args.ids:
            continue
        ok, secs, last = check(hid, remove, tests)
        bad += not ok
        print("%-4s %-22s %s  %5.1fs  %s" % (hid, hazard, "shown " if ok else "NOT SHOWN", secs, last))
    print("hazards: %d mitigations removed, %d not shown by their tests" % (
        len([h for h in HAZARDS if not args.ids or h[0] in args.ids]), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
