"""Hazard list: each hazard, its mitigation in the firmware and the tests that show it; checks that every one of those
tests fails when its mitigation is taken out.

`python -m verify.hazards --markdown` prints docs/hazards.md (a test keeps the file in step with this table).
`python -m verify.hazards --check [ID ...]` copies the repository to a scratch folder once per hazard, removes the
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

from tools import ROOT

_COPY = ("lib", "board", "tools", "verify", "host_tests", "examples", "main.py", "boot.py", "pyproject.toml")

_SIM = "host_tests/sim/test_sim.py::"
_APP = "host_tests/app/test_app.py::"
_LATCH = "host_tests/safety/test_safety_latch.py::"
_AUTH = "host_tests/ble/test_cmdauth.py::"
_BLE = "host_tests/ble/test_bleservice.py::"
_REC = "host_tests/dosing/test_bolus_records.py::"
_NUM = "host_tests/therapy/test_json_numbers.py::"
_BOOT = "host_tests/storage/test_bootstores.py::"
_STORE_SIM = "host_tests/sim/test_sim_store.py::"
_BOARDS = "host_tests/boards/test_boards.py::"
_CLOCK = "host_tests/dosing/test_clocksafety.py::"
_SIM_CLOCK = "host_tests/sim/test_sim_clock.py::"
_PINS = "host_tests/boards/test_pin_rules.py::"
_RUN = "host_tests/sim/test_make_run.py::"
_DRY = "host_tests/clients/test_programmer_dry_run.py::"
_TRIAL = "host_tests/dosing/test_trial_pump.py::"
_TRIAL_RX = "host_tests/therapy/test_trial_program.py::"
_CLIN = "host_tests/clients/test_programmer_trial.py::"
_SESSION = "host_tests/ble/test_session.py::"
_VECTORS = "host_tests/ble/test_session_vectors.py::"
_AIR = "host_tests/ble/test_ble_session_air.py::"
_BLEAPP = "host_tests/app/test_ble_app.py::"
_REFILL = "host_tests/safety/test_refill_reconcile.py::"
_FORECAST = "host_tests/safety/test_battery_forecast.py::"
_UNSET = "host_tests/safety/test_clock_unknown.py::"

# id, hazard, cause, mitigation, [(file, text, replacement)], [pytest node ids]
HAZARDS = (
    ("H1", "Over-delivery", "a dose-engine fault steps faster than programmed",
     "an independent monitor counts the steps handed to the driver in 1 h and 24 h windows against the program's "
     "bounds (boluses granted as they start); a breach latches a high-priority alarm, holds dosing and disables "
     "the driver",
     [("lib/pump/safety.py", "if self.day_window.count(now_s, n) | self.hour_window.count(now_s, n):",
       "if (self.day_window.count(now_s, n) | self.hour_window.count(now_s, n)) and False:")],
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
     [("lib/pump/bolus.py", "if grants and (mono_s - grants[-1]) * 1000 < patient_bolus.lockout_ms:", "if False:")],
     [_SIM + "test_lockout_and_daily_maximum_refusals_carry_their_reason"]),
    ("H4", "Wrong dose", "a program beyond the drug library's hard limits",
     "every program, bolus and refill is checked against the library; hard limits refuse, soft ones need a "
     "confirmation; the running program is untouched",
     [("lib/pump/prescription.py", "        if v[0] == E_HARD_LIMIT:\n            raise",
       "        if False:\n            raise")],
     ["host_tests/dosing/test_controller.py::test_program_refusal_changes_nothing_and_is_logged"]),
    ("H5", "Wrong concentration", "a program for a concentration other than the reservoir's",
     "a program must name the concentration the reservoir holds; a refill with a new one re-validates the "
     "program, and the catheter's drug goes first at its own strength (H37)",
     [("lib/pump/controller.py", "if conc and therapy.conc_ug_per_ml != conc:", "if False:")],
     ["host_tests/dosing/test_controller.py::test_program_refusal_changes_nothing_and_is_logged"]),
    ("H6", "Under-delivery", "a blocked catheter (occlusion)",
     "pressure rise per delivered step against a tracked baseline: alarm within a few steps at any rate, dosing "
     "held until an explicit resume",
     [("lib/pump/safety.py", "if occ.state == OCCLUDED:", "if False:")],
     [_SIM + "test_full_occlusion_is_caught_held_backed_off_and_resumed[500-10000-0.16]"]),
    ("H7", "Over-delivery", "the drug held back by an occlusion flushes in when it clears",
     "the mechanism backs off the held-back volume at the alarm (bolus after clearing <= 2 uL)",
     [("lib/pump/safety.py", "self.hw.stepper.step_reverse(k)", "pass")],
     [_SIM + "test_full_occlusion_is_caught_held_backed_off_and_resumed[5000-10000-0.8]"]),
    ("H8", "Air / empty reservoir", "pumping on with an empty reservoir",
     "reservoir accounting: low (medium) and empty (high) alarms; at empty, programmed delivery stops",
     [("lib/pump/dosing.py", "empty = self.reservoir.state == STATE_EMPTY", "empty = False")],
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
     [("lib/pump/safety.py", "            if stall.stalled:", "            if False:")],
     [_SIM + "test_motor_stall_is_caught_within_a_few_steps_and_stops_dosing",
      "host_tests/safety/test_safety.py::test_the_driver_diag_alone_catches_a_jam_without_an_encoder"]),
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
     ["host_tests/storage/test_store.py::test_power_cut_at_every_byte_of_a_save_into_slot_b",
      "host_tests/storage/test_store.py::test_corrupt_byte_anywhere_in_newest_falls_back_to_older"]),
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
     [("lib/pump/bleservice.py", "elif self.pairing and not self.authenticated:", "elif False:")],
     [_BLE + "test_nothing_protected_before_encryption_and_commands_need_mitm"]),
    ("H19", "Unauthorised therapy change", "keys guessed by trying commands again and again",
     "after 5 failures in a row commands are locked out for 30 s, doubling up to 64 min, across resets; each "
     "lockout is logged",
     [("lib/pump/cmdauth.py", "if self.failures >= MAX_FAILURES:", "if False:")],
     [_AUTH + "test_lockout_grows_is_logged_and_survives_a_reset", _BLE + "test_lockout_over_ble_is_logged"]),
    ("H20", "Wrong dose", "the history says a bolus cancelled part-way (suspend, new program, hold, empty reservoir) "
     "delivered its whole dose: the next dose is decided on drug never given",
     "a bolus's end record carries the drug its pacing delivered (dose x elapsed / duration, whole ng; the whole "
     "dose only when done) and its kind by the event log's numbers; no bolus runs from an empty reservoir",
     [("lib/pump/doseplan.py", "self.delivered_ng = self.dose_ng * (self.duration_ms - left) // self.duration_ms",
       "self.delivered_ng = self.dose_ng")],
     [_REC + "test_a_bolus_cancelled_part_way_records_what_its_steps_delivered",
      _REC + "test_the_controller_logs_a_cancelled_bolus_with_the_drug_it_delivered"]),
    ("H21", "Wrong dose", "a fraction, NaN, infinity or true where a whole number is meant (calibration, "
     "concentration, lockout, boluses a day, a pin) read as a number: 199.6 nL/step taken as 199, true as 1",
     "every whole number read from JSON (config.json, druglib.json, prescriptions, command arguments, scenarios) goes "
     "through pump.units.as_int: an integral float (10000.0) is that integer, anything else is refused in one line "
     "naming the file, the key and the expected type",
     [("lib/pump/units.py", "        if i == x:\n            return i", "        if True:\n            return i")],
     [_NUM + "test_as_int_takes_integral_floats_and_names_everything_else",
      _NUM + "test_pump_config_takes_integral_floats_for_every_key",
      _NUM + "test_prescriptions_take_integral_floats_wherever_integers_are_read"]),
    ("H22", "Therapy stopped", "a clock set far ahead (near the top of u32): the next checkpoint cannot be written and "
     "every boot fails",
     "set-clock accepts only 2024-01-01 .. 2099-12-31 and names the range when it refuses; the RTC read at boot "
     "outside it is replaced by the last checkpoint's time",
     [("lib/pump/controller.py", 'wall_s = check_wall_s(as_int(wall_s, "wall_s"))',
       'wall_s = as_int(wall_s, "wall_s")')],
     [_BOOT + "test_a_clock_outside_the_valid_range_is_refused_naming_the_range"]),
    ("H23", "Therapy stopped", "a stored record with a value out of its range (bit rot behind a valid CRC, older "
     "firmware, a forged write) crashes every boot",
     "every field the boot reads is checked against its range; a record that fails is a storage fault like a bad "
     "CRC: the other slot is used, an event and an alarm follow",
     [("lib/pump/checkpoint.py", "        _migrate(c, grants)\n    _check(c)\n", "        _migrate(c, grants)\n")],
     [_BOOT + "test_a_stored_clock_beyond_the_range_never_stops_the_boot",
      "host_tests/dosing/test_controller.py::test_a_checkpoint_field_out_of_its_range_is_refused_naming_it"]),
    ("H24", "Wrong dose", "the newest program slot lost: the pump boots on an older prescription",
     "the checkpoint records the program store's sequence number when a program is applied; a program store found "
     "older is a fallback: high-priority alarm, held until a clinician confirms or reprograms (a save cut by a power "
     "failure, never acknowledged, is not one)",
     [("lib/pump/stored.py", "if applied is not None and newer(applied, prog_store.seq):", "if False:")],
     [_BOOT + "test_a_lost_newer_program_slot_is_a_fallback_held_with_a_high_alarm",
      _STORE_SIM + "test_a_corrupt_newer_program_slot_is_a_held_fallback_until_confirmed"]),
    ("H25", "Over-delivery", "the state store lost: holds and the user's suspend forgotten, the pump runs",
     "a state store with records but none readable (or none beside a stored program) is a hold with a "
     "high-priority alarm until a clinician confirms; a first boot (no records at all) is not",
     [("lib/pump/controller.py", "            safety.hold(A_STATE_LOST, now)", "            pass")],
     [_BOOT + "test_both_state_slots_lost_is_a_hold_with_an_alarm_not_running",
      _STORE_SIM + "test_both_state_slots_corrupt_hold_until_refilled_and_confirmed"]),
    ("H26", "Unauthorised therapy change", "the command counters lost (corrupt slots, a firmware up- or downgrade): "
     "every recorded command replays",
     "older counter formats are migrated; lost counters are saved as lost under the keys' fingerprint and every "
     "command is refused with an alarm until new keys are provisioned over USB",
     [("lib/pump/cmdauth.py", "        if self.lost:\n            return E_COUNTERS_LOST",
       "        if False:\n            return E_COUNTERS_LOST")],
     [_AUTH + "test_lost_counters_refuse_every_command_with_an_alarm_until_new_keys"]),
    ("H27", "Loss of therapy control", "one authentic command with counter 0xFFFFFFFF locks its role out for good",
     "a command's counter may be at most 2**16 above the last one accepted",
     [("lib/pump/cmdauth.py", "if counter - self.counters[role] > MAX_COUNTER_STEP:", "if False:")],
     [_AUTH + "test_one_authentic_frame_cannot_use_up_its_roles_counters"]),
    ("H28", "Withdrawal (abrupt stop)", "druglib.json missing, malformed or now rejecting the stored program: the "
     "program is dropped at boot",
     "the stored program, validated when programmed, keeps running with its structure checked again and a "
     "medium-priority alarm; a program that cannot be trusted at all is a high-priority fallback",
     [("lib/pump/stored.py", "            self.unchecked = e.code  #", "            return None  #")],
     [_BOOT + "test_without_a_drug_library_the_stored_program_keeps_running_with_an_alarm",
      _BOOT + "test_a_library_that_now_rejects_the_stored_program_keeps_it_running_with_an_alarm"]),
    ("H29", "Uncontrolled motor", "an exception before the app runs (config.json, building the board, the app): a "
     "REPL or a silent reset loop",
     "board.start ends it in the fail-safe: motor driver off, the high-priority pattern on the buzzer (from the "
     "board's default pins when the board could not be built), one console line, no reset",
     [("board/__init__.py", "        (fail_safe or failsafe.fail_safe)(e, name, hw)\n        return None",
       "        raise")],
     [_BOARDS + "test_a_config_that_cannot_be_read_ends_in_the_fail_safe_not_a_repl_or_a_reset",
      _BOARDS + "test_an_exception_building_the_app_stops_the_built_motor_and_sounds_its_buzzer"]),
    ("H30", "Data loss", "bit rot in a store or the event log goes unnoticed until the other copy rots too",
     "a slot failing a check no power cut explains is an event and a medium-priority STORE_CORRUPT alarm; a "
     "torn write is an event only",
     [("lib/pump/controller.py", "            safety.latch(A_STORE_CORRUPT, now)", "            pass")],
     [_BOOT + "test_one_rotten_state_slot_is_an_alarm_a_torn_one_an_event_only",
      _STORE_SIM + "test_one_corrupt_state_slot_is_an_alarm_and_delivery_goes_on"]),
    ("H31", "Over-delivery", "the wall clock set forward (or back): patient boluses counted by the clock let through "
     "twice the daily maximum in a day (or none for a year)",
     "the lockout and the rolling daily maximum count monotonic pump time (checkpointed), which no clock setting "
     "moves",
     [("lib/pump/controller.py", "code = self.policy.check(self.mono.s, pb)",
       "code = self.policy.check(self.wall_s(now), pb)"),
      ("lib/pump/controller.py", "self.policy.grant(self.mono.s)", "self.policy.grant(self.wall_s(now))")],
     [_CLOCK + "test_a_clock_set_forward_a_day_lets_no_more_than_the_daily_maximum_through_in_any_24_hours",
      _CLOCK + "test_a_clock_set_back_a_year_does_not_lock_the_patient_out",
      _SIM_CLOCK + "test_a_clock_set_forward_a_day_in_the_simulator_keeps_four_boluses_a_day"]),
    ("H32", "Over-delivery", "a clock correction replays hours of a time-of-day schedule (or skips light ones)",
     "the schedule phases in over a day: the rate is the least of the old and the new schedule (periodic boluses "
     "included), so no 24 h hold more than the program allows in 24 h and the monitor raises no false hold",
     [("lib/pump/doseplan.py", "self.phases.correct(wall_ms - self.cal.wall_ms_at(now), self.mono.ms_at(now))",
       "pass")],
     [_SIM_CLOCK + "test_a_clock_correction_never_gives_more_than_the_program_allows_in_24_hours[36.2-12 h back]",
      _SIM_CLOCK + "test_a_clock_correction_never_gives_more_than_the_program_allows_in_24_hours[11.75-a day back]"]),
    ("H33", "Under-delivery", "a suspend or a hold longer than the ticks horizon (6.2 days): the over-delivery "
     "windows kept stale counts and raised a false hold at the resume",
     "the windows count monotonic seconds, so idle time of any length ages them; the clock advances at every wake "
     "(at least daily, halted too)",
     [("lib/pump/safety.py", "        mono.advance(now)\n        return mono.s", "        return now // 1000")],
     [_CLOCK + "test_a_week_or_five_weeks_suspended_end_without_a_false_over_delivery",
      _CLOCK + "test_holds_of_a_week_or_five_weeks_end_without_a_false_over_delivery"]),
    ("H34", "Over-delivery", "a reset empties the over-delivery windows: a dose-engine fault that resets is never "
     "caught",
     "the windows' contents (counts, allowances, limit) are checkpointed and restored at boot",
     [("lib/pump/controller.py", "safety.restore_windows(c.windows, now)", "pass")],
     [_CLOCK + "test_a_breach_building_before_a_reset_is_still_caught_after_it"]),
    ("H35", "Over-delivery", "a reset between saving a clock setting and writing the RTC: the RTC's time taken for "
     "time gone by ends a lockout at once",
     "a clock setting is saved marked before the RTC is written; a boot that finds the mark takes the saved time and "
     "sets the RTC from it",
     [("lib/pump/controller.py", "rtc_trusted = rtc_valid and not c.flags & FLAG_CLOCK_SET",
       "rtc_trusted = rtc_valid")],
     ["host_tests/storage/test_powercut.py::test_cut_while_setting_the_clock_never_moves_the_safety_limits"]),
    ("H36", "Under-delivery", "a reset shifts the schedule against the over-delivery windows (the wall clock counts "
     "the time since the last checkpoint, the windows would not): a false hold in a flex program",
     "at boot the monotonic clock counts the gap since the checkpoint as far as the RTC vouches for it (at most two "
     "days), so wall and monotonic time move together",
     [("lib/pump/monoclock.py", "return wall_ms, saved_mono_ms + min(wall_ms - saved_wall_ms, MAX_CREDIT_MS)",
       "return wall_ms, saved_mono_ms")],
     [_CLOCK + "test_resets_in_a_flex_program_raise_no_false_over_delivery"]),
    ("H37", "Over-delivery", "refills with new strengths stacking up while the catheter still holds older drugs",
     "the catheter is a queue of old-drug segments (volume, strength), oldest at the tip: a refill appends the part "
     "holding the reservoir's drug; the dose is paced by the strength at the tip, changing at the step that empties "
     "a segment; the over-delivery bounds and bolus allowances follow the queue; it is checkpointed with every burst",
     [("lib/pump/catheter.py", "        nl = catheter_nl - self.old_nl\n",
       "        self.clear()  # the whole catheter as the reservoir's drug\n        nl = catheter_nl\n")],
     ["host_tests/dosing/test_stacked.py::test_stacked_refills_deliver_the_programmed_drug_mass_within_one_step",
      _SIM + "test_stacked_concentration_changes_deliver_the_programmed_drug_mass"]),
    ("H38", "Over-delivery", "a program (or resume) sent to a pump with nothing due waits for the deadline its dosing "
     "task had before (up to an hour), then the steps owed since the command arrive in a burst",
     "every command marks the pump retimed; the dosing task asks for its next deadline again at its next wake-up, "
     "at most the watchdog feeding period (4 s) later",
     [("lib/pump/app.py", "if pump.retimed or ticks_diff(now, deadline) >= 0:", "if ticks_diff(now, deadline) >= 0:")],
     ["host_tests/ble/test_wired.py::test_the_app_answers_the_wire_and_a_program_sent_after_boot_doses_at_once"]),
    ("H39", "Over-delivery", "a bouncing, noisy or stuck patient bolus button taken as press after press",
     "a press counts once the input held pressed for the debounce time, and the next one only after a release; each "
     "press goes through the patient-bolus policy (lockout, daily maximum), logged, and a granted and a refused "
     "press beep differently",
     [("lib/pump/button.py", "        if pressed == self.down:\n            return False",
       "        if False:\n            return False")],
     ["host_tests/app/test_button.py::test_a_held_button_is_one_request_until_released"]),
    ("H40", "Alarm not heard", "a high-priority alarm raised while a lower one pauses between its pulses (a minute for "
     "a low alarm, always sounding on a board without a pressure sensor) stays silent until that pause ends",
     "every alarm change interrupts the annunciator's pause: the highest alarm's pattern starts at once",
     [("lib/pump/app.py", "            self._annunciator.cancel()", "            pass")],
     [_APP + "test_a_high_alarm_sounds_at_once_while_a_low_one_sleeps_through_its_minute_long_pause"]),
    ("H41", "Wrong concentration", "a refill with a new strength whose checkpoint is lost (a power cut between its "
     "two saves, or that slot rotten): the boot paced the new drug as the old one, for good",
     "a program store newer than the checkpoint with another strength is that refill: the reservoir holds the "
     "program's drug, the catheter the old one (queued as the refill does), and the pump holds with STATE_LOST (the "
     "volume filled is not known) until a clinician refills and confirms",
     [("lib/pump/stored.py", "            self.refill_lost = True  # the reservoir holds the program's drug, not the "
       "checkpoint's\n            conc = 0\n", "            pass\n")],
     [_BOOT + "test_a_refill_whose_checkpoint_was_lost_never_paces_the_new_drug_as_the_old",
      _BOOT + "test_a_refill_cut_between_its_two_saves_is_held_until_confirmed"]),
    ("H42", "Wrong dose", "both slots of a store lost and a new record saved into one: the other's old record, "
     "numbered higher, reads right again one day (a read error that passes) and outranks it (an old program runs)",
     "a save after a load that found no valid record but a failed one writes the record into both slots",
     [("lib/pump/store.py", "        if again:\n            self._write(payload)\n", "")],
     ["host_tests/storage/test_store.py::test_a_store_whose_slots_were_all_lost_keeps_no_old_record_behind",
      _BOOT + "test_an_old_program_reading_right_again_never_outranks_the_one_given_after_a_loss"]),
    ("H43", "Over-delivery", "the occlusion back-off draws drug back into the pump while the catheter holds an older "
     "drug: the queue kept those steps as moved, so the old drug ended early and its rest was paced as the next one",
     "the back-off's steps move the catheter queue's tip back, into the drugs already out of it as far as the queue "
     "remembers them (pump.catheter `back`); the dose plan is retimed when the tip's drug changes",
     [("lib/pump/dosing.py", "                self._tip_back(now, safety.backed_off)\n", "")],
     ["host_tests/dosing/test_stacked.py::test_the_occlusion_back_off_draws_the_catheter_tip_back"]),
    ("H44", "Over-delivery", "a jammed mechanism during a change of strength: the steps the stall check needs (up to "
     "12) were counted as moved, so the old, stronger drug ran out early in the pump's view and its last steps were "
     "paced as the weaker one",
     "steps the encoder did not see (beyond two steps' counts, for late edges) move the catheter queue's tip back",
     [("lib/pump/safety.py", "self.unmoved = (unseen - cps) // cps if unseen > cps else 0", "self.unmoved = 0")],
     ["host_tests/dosing/test_stacked.py::test_steps_a_jammed_mechanism_never_made_do_not_push_the_old_drug_out"]),
    ("H45", "Uncontrolled motor", "a config.json that moves EN, puts two roles on one pin, a role on a pin the board "
     "reserves (flash, boot straps, the wireless chip) or an analog role off the ADC: the driver cannot be disabled, "
     "or the board does not boot as wired",
     "each board module's PIN_RULES, applied by board.drivers.check_pins in merge_config: boardconfig and deploy "
     "refuse such a config, a board stops at boot in the fail-safe",
     [("board/drivers.py", "        check_pins(merged, pins, rules, where)\n", "        pass\n")],
     [_PINS + "test_the_board_refuses_the_same_pins_at_boot_and_accepts_good_ones",
      _PINS + "test_boardconfig_refuses_pins_the_board_rules_out"]),
    ("H46", "Therapy stops silently", "a simulated pump started with a speed of 0 or a negative run time: a task "
     "fault (division by zero) or a run that ends at once, both with exit code 0",
     "the simulated board refuses knobs out of range itself (the fail-safe line), besides tools/run's check",
     [("board/sim/hardware.py", "    if n is None or not lo <= n <= hi:", "    if n is None:")],
     [_RUN + "test_the_simulated_board_refuses_bad_knobs_itself_in_its_fail_safe"]),
    ("H47", "Over-delivery", "a programmer dry run says \"would send\" for a bolus above the drug's hard limit or a "
     "fill the pump refuses: the clinician trusts a command the pump will refuse, or plans on it",
     "the dry run applies the command to the firmware's Pump on the simulated board running the pump's program "
     "(--rx) first, and says \"would send\" only when it is accepted",
     [("tools/pumplink/link.py", "        if self.check is not None:\n            self.check(command, args)\n", "")],
     [_DRY + "test_offline_checks_and_dry_runs_refuse_what_the_pump_refuses"]),
    ("H48", "Over-delivery", "a screening trial's clock set days ahead, or days the pump was off, jump the titration "
     "straight to its highest step",
     "the pump moves the titration at most one step further per day it sees begin, and never back",
     [("lib/pump/trialcmds.py", "            i = s.step + 1\n", "            i = trial.step_due(today)\n")],
     [_TRIAL + "test_a_clock_set_days_ahead_moves_the_titration_one_step_a_day_never_several"]),
    ("H49", "Wrong dose", "the trial's next titration step overrides the dose a clinician programmed during the trial "
     "(lowered for a side effect)",
     "a clinician's program or stop during the trial ends the titration (saved first, logged): no later step runs",
     [("lib/pump/controller.py", "if self.screening.titrating and not self._trial_stepping:", "if False:")],
     [_TRIAL + "test_a_clinicians_program_during_the_trial_ends_the_titration"]),
    ("H50", "Wrong dose", "a titration step beyond the drug library's limits or the mechanism's rates, found only on "
     "the day it is due",
     "every step of a trial is checked as a program (library hard and soft limits, mechanism rates) when the trial "
     "is programmed, refused whole and logged; a stored trial the library refuses at boot is never stepped",
     [("lib/pump/trial.py", "parse_prescription(trial.program_doc(i), library, nl_per_step, confirm_soft)",
       "parse_prescription(trial.program_doc(i), library, nl_per_step, True, False)")],
     [_TRIAL_RX + "test_each_step_is_checked_as_a_program_against_the_library_and_the_mechanism",
      _TRIAL + "test_a_trial_refused_changes_nothing_and_is_logged"]),
    ("H51", "Wrong implant decision", "a score taken under the drug entered as baseline, or trial scores with no "
     "baseline, make the relief look larger than it is",
     "the pump takes baseline scores only before the trial's start day and trial scores only from it on, once a "
     "baseline exists; the report refuses a history without baseline or trial scores",
     [("lib/pump/trialcmds.py", "        if baseline and started:", "        if False:")],
     [_TRIAL + "test_pain_scores_come_baseline_first_then_during_the_trial_with_their_role_and_survive_a_reset"]),
    ("H52", "Untraceable therapy change", "a therapy change whose sender, command or program cannot be established "
     "afterwards",
     "every authenticated command that changes therapy is logged, applied or refused, with its role, counter, result "
     "and the first 8 bytes of the SHA-256 of its parameters (events COMMAND, CONTENT)",
     [("lib/pump/commands.py", "    if msg[0] in AUDITED:", "    if False:")],
     ["host_tests/ble/test_commands.py::test_each_command_calls_its_pump_method_with_the_decoded_parameters_at_the_"
      "command_time", _BLE + "test_every_command_through_frames",
      _CLIN + "test_a_trial_and_scores_over_the_wired_path_are_applied_and_audited_with_role_counter_and_content_"
      "hash"]),
    ("H53", "Untraceable therapy change", "an exported history edited after the fact (a row changed, reordered or "
     "removed) passes as the pump's own",
     "the signed export carries an HMAC-SHA256 under the clinician key over every field; `programmer verify` "
     "refuses any change, a truncated file and another key (exit 2)",
     [("tools/programmer/audit.py", "    if not hmac.compare_digest(mac, _mac(key, doc)):", "    if False:")],
     [_CLIN + "test_the_history_exports_decoded_to_names_and_signed_and_verify_catches_every_tampering"]),
    ("H54", "Disclosure of health data", "an eavesdropper in radio range of a pump without link encryption (a stock "
     "Pico W) reads its status, alarms, history and prescriptions",
     "everything in a secure session is encrypted with AES-128-CTR under keys of that session and direction, derived "
     "from the role's key and both ends' fresh nonces (docs/ble.md, \"Secure session\")",
     [("lib/pump/seal.py", "        ctr.crypt(out, HEAD_LEN, n)\n", "")],
     [_SESSION + "test_a_sealed_message_shows_no_payload_and_never_repeats_its_keystream",
      _VECTORS + "test_both_ends_seal_and_open_every_message_of_the_vectors"]),
    ("H55", "Wrong therapy decision", "a message forged or altered on the air: telemetry a clinician acts on, or a "
     "command",
     "every sealed message carries a 16-byte HMAC-SHA256 tag under its direction's session key, checked in "
     "constant time before anything is decrypted or counted; a refused message changes nothing",
     [("lib/pump/seal.py", "if not equal_at(tag, 0, msg, end, TAG_LEN):", "if False:")],
     [_SESSION + "test_forged_replayed_reordered_and_misdirected_messages_are_refused_and_change_nothing",
      _VECTORS + "test_the_refused_messages_of_the_vectors_are_refused_with_their_code"]),
    ("H56", "Wrong therapy decision", "a recorded sealed message replayed or delivered out of order (an old "
     "\"no alarm\" status, a request again)",
     "a counter per stream and direction that must rise; each characteristic counts on its own, so messages that "
     "complete out of their sealing order across characteristics are still taken",
     [("lib/pump/seal.py", "if seq <= self.seqs[stream]:", "if False:")],
     [_SESSION + "test_forged_replayed_reordered_and_misdirected_messages_are_refused_and_change_nothing",
      _SESSION + "test_streams_count_on_their_own_so_interleaved_characteristics_complete_in_any_order"]),
    ("H57", "Unauthorised access", "a phone without the role's key opens a session (any phone can connect to a "
     "Pico W: no pairing)",
     "the handshake's mutual proof: the pump opens a session only for a CONFIRM whose proof needs the role's key "
     "and the pump's fresh nonce, one try per nonce; the central checks the pump's proof the same way",
     [("lib/pump/session.py", "if n != CONFIRM_LEN or not equal_at(msg, 1, okm, CENTRAL_PROOF, PROOF_LEN):",
       "if n != CONFIRM_LEN:")],
     [_SESSION + "test_a_central_without_the_roles_key_gets_no_session"]),
    ("H58", "Unauthorised access", "a recorded handshake replayed to the pump",
     "the pump takes a new nonce from os.urandom for every HELLO, so a recorded proof never fits again and every "
     "session has new keys",
     [("lib/pump/session.py", "nonce_p = bytes(self._urandom(NONCE_LEN))", "nonce_p = bytes(NONCE_LEN)")],
     [_SESSION + "test_a_recorded_confirm_replayed_to_a_new_challenge_is_refused",
      _SESSION + "test_each_handshake_takes_a_fresh_pump_nonce_and_gives_new_keys"]),
    ("H59", "Unauthorised therapy change", "a monitor's or a patient's session used to send another role's "
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
    ("H60", "Loss of monitoring", "a phone in range connects and holds the pump's one connection without ever opening "
     "a session: nobody else can read the alarms",
     "a central with no open session 5 s after connecting is disconnected, and it is logged (SESSION_FAILED)",
     [("lib/pump/blesession.py", "        return self.open or ticks_diff(self.clock.ticks_ms(), self.deadline) < 0",
       "        return True")],
     [_AIR + "test_a_central_that_opens_no_session_is_disconnected_at_the_deadline_and_it_is_logged"]),
    ("H61", "Disclosure of health data", "status, alarms, history or a prescription read off the air from a Pico "
     "W, whose stock stack cannot encrypt the link",
     "nothing but Device Information, Battery and Features leaves without the secure session: status, alarm, "
     "history, RACP and command answers are sealed on their streams, and neither notified nor readable before a "
     "session opens",
     [("lib/pump/bleservice.py", "        return self.sp.open and (self.encrypted or not self.pairing)",
       "        return self.encrypted or not self.pairing"),
      ("lib/pump/bleservice.py", "        ble.gatts_write(self.h_status, self._st_rd.views[0])",
       "        ble.gatts_write(self.h_status, st)")],
     [_AIR + "test_an_eavesdropper_on_a_pico_w_link_finds_no_plaintext_status_alarm_or_history",
      _BLE + "test_nothing_protected_before_encryption_and_commands_need_mitm"]),
    ("H62", "Unauthorised therapy change", "a command or RACP request that was not sealed in the open session "
     "(recorded from another session, forged, or sent with no session) is run",
     "the command point and the RACP open every message in the session first (its stream, counter and tag) and "
     "refuse it with a code otherwise",
     [("lib/pump/bleservice.py", "            if not self.sp.open:\n                    self._cmd_err",
       "            if False:\n                    self._cmd_err"),
      ("lib/pump/bleservice.py", "            code = self.sp.session.open_command(rx.buf, rx.n)",
       "            code = 0\n            self.sp.session.n = rx.n")],
     [_BLE + "test_nothing_protected_before_encryption_and_commands_need_mitm",
      "host_tests/ble/test_ble_pump.py::test_disconnect_and_reconnect_with_the_bond_and_after_a_pump_reset"]),
    ("H63", "Loss of monitoring", "a clinician's passkey bond evicted by Just Works pairings from phones in range "
     "(each also rewrites 2 KB of flash)",
     "a pairing's keys are held in memory until the link proves MITM-authenticated; an unauthenticated pairing's "
     "keys go with its link and are never written",
     [("lib/pump/bleservice.py", "self.secrets.set(data[0], data[1], data[2], self.conn is None or self.authenticated)",
       "self.secrets.set(data[0], data[1], data[2])")],
     [_BLE + "test_just_works_pairings_neither_evict_the_clinicians_bond_nor_write_the_flash"]),
    ("H64", "Loss of monitoring", "a Pico W's stack refuses the pairing settings and the pump turns BLE off: no "
     "telemetry, no alarms on the phone, no programming",
     "the service learns what the stack offers (a refused pairing setting means none) and runs on the secure session "
     "alone; the console says once which security it runs with",
     [("lib/pump/bleservice.py", "        except ValueError:\n            self.pairing = False\n",
       "        except ValueError:\n            raise\n")],
     [_BLEAPP + "test_a_stack_without_pairing_still_serves_ble_on_the_session_alone"]),
    ("H65", "Disclosure of health data", "handshakes tried again and again on one connection, or failed ones filling "
     "the event log so the therapy history is overwritten",
     "failed handshakes are counted, logged once per connection, and the third on a connection ends it",
     [("lib/pump/blesession.py", "        if self.link_failures >= MAX_FAILURES:\n            return False",
       "        if False:\n            return False"),
      ("lib/pump/blesession.py", "        if not self._logged:", "        if True:")],
     [_AIR + "test_failed_handshakes_are_counted_logged_once_and_the_third_ends_the_link"]),
    ("H66", "Over-delivery / under-delivery", "what came back out of the reservoir at a refill differs from what the "
     "pump believes is in it (a leak, a pocket fill, an occlusion, a calibration error) and nobody is told",
     "the refill's aspirated volume is reconciled with the expected residual: beyond the larger of 1 mL and 15 % "
     "(configurable) it is logged and raises a medium alarm; the refill itself applies",
     [("lib/pump/reconcile.py", "        if diff:\n            self._event(ev.REFILL_DISCREPANCY",
       "        if False:\n            self._event(ev.REFILL_DISCREPANCY")],
     [_REFILL + "test_more_back_than_expected_is_a_discrepancy_with_a_medium_alarm_and_the_refill_still_happens",
      _REFILL + "test_less_back_than_expected_a_pocket_fill_or_a_leak_is_a_discrepancy_too",
      "host_tests/sim/test_sim_pathway.py::test_a_mechanism_moving_less_than_calibrated_comes_back_as_more_than_"
      "expected"]),
    ("H67", "Over-delivery / under-delivery", "a reset right after a refill discrepancy clears its alarm before "
     "anyone saw it",
     "the discrepancy alarm is latched with the fault alarms: saved with the counters, raised again at boot until "
     "acknowledged",
     [("lib/pump/safety.py", "\n         | (1 << (al.A_REFILL_DISCREPANCY - 1)))", ")")],
     [_REFILL + "test_the_alarm_outlives_a_reset_until_it_is_acknowledged"]),
    ("H68", "Therapy stops", "a program whose rate brings the battery's elective replacement within 90 days: the "
     "replacement cannot be planned before end of service stops dosing",
     "the program is refused (E600) unless the clinician confirms it; a confirmation is logged; a stop never is",
     [("lib/pump/forecast.py", "    if days < ERI_DAYS and not confirmed:", "    if False:")],
     [_FORECAST + "test_a_program_bringing_replacement_within_90_days_is_refused_and_changes_nothing",
      _FORECAST + "test_an_old_cell_refuses_even_a_modest_program_and_a_stop_is_never_refused"]),
    ("H69", "Therapy stops", "a program at a rate for which no voltage threshold can warn 90 days ahead",
     "refused unless confirmed; confirmed, the pump takes the earliest warning the cell can give (not the rest "
     "rate's, which would come far too late) and says so in its status",
     [("lib/pump/forecast.py", "        if not confirmed:\n            raise PumpError(E_BATTERY_ERI, \"program: %d",
       "        if False:\n            raise PumpError(E_BATTERY_ERI, \"program: %d"),
      ("lib/pump/safety.py", "            eri_eos = thresholds(_max_steps())",
       "            eri_eos = (self.battery.eri_mv, self.battery.eos_mv)")],
     [_FORECAST + "test_a_program_allowing_no_90_day_warning_is_refused_unless_confirmed_and_then_said",
      "host_tests/safety/test_safety.py::test_battery_thresholds_follow_the_program"]),
    ("H70", "Wrong dose time", "a pump whose clock was never set or was lost at a power cut shows 2021-01-01 (or the "
     "checkpoint's time) as if it were true: logs, dates and a time-of-day schedule read off a wrong clock",
     "the clock is judged at boot (RTC out of range, behind the checkpoint, or not set since): an event, a low "
     "alarm and the status say CLOCK NOT SET until a set-clock; saved, so a reset does not forget it",
     [("lib/pump/controller.py", "        self.clock_known = not clock_lost\n", "        self.clock_known = True\n"),
      ("lib/pump/controller.py", "        self.safety.alarms.set_condition(A_CLOCK_NOT_SET, bool(clock_lost), now)",
       "        pass")],
     [_UNSET + "test_a_first_boot_on_an_rtc_that_was_never_set_says_so_until_set_clock",
      _UNSET + "test_an_rtc_that_lost_power_is_a_lost_clock_and_stays_so_across_resets_until_set"]),
    ("H71", "Wrong dose time", "the programmer's set-clock sends the laptop's local time to a pump that keeps UTC: "
     "the clock is off by the laptop's zone",
     "set-clock converts the laptop's local time (--at, or now) to UTC and says both",
     [("tools/programmer/programmer.py", "        when = args.at.astimezone() if args.at else "
       "datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)",
       "        when = args.at or datetime.datetime.now().replace(microsecond=0)")],
     ["host_tests/clients/test_programmer_time.py::test_set_clock_at_a_local_time_sends_that_instant_in_utc",
      "host_tests/clients/test_programmer_time.py::test_set_clock_now_sends_utc_not_the_laptops_local_time"]),
    ("H72", "Wrong dose time", "a pump that keeps UTC runs a schedule's times of day in UTC: a patient's night rate "
     "or periodic bolus comes hours off by the patient's zone",
     "the calendar places the schedule at UTC plus the configured utc_offset_min; the log, the status and set-clock "
     "stay UTC",
     [("lib/pump/calendar.py", "local_ms = max(wall_ms + self.offset_ms, 0)", "local_ms = max(wall_ms, 0)")],
     ["host_tests/dosing/test_utc_offset.py::test_the_schedule_follows_the_patients_local_time"]),
)


def markdown():
    """docs/hazards.md."""
    out = [
        "# Hazards, mitigations and the tests that show them",
        "",
        "Each mitigation below is shown by the tests named with it, and `make hazards` (part of `make test`) proves",
        "it: it removes the mitigation from a copy of the firmware (the edit in the last column) and the tests must",
        "fail. The table is `verify/hazards.py`; this file is generated from it",
        "(`python -m verify.hazards --markdown`).",
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
