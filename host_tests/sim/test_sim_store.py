"""Storage faults as simulator scenarios (`flash_corrupt`): a bit flipped in a store's slots is read back at the next
reset, and the pump says so with events and alarms, holds where it must, and never runs a program it was not given;
the reference follows what the pump restarted with, so delivery stays within one step of it."""

import json

import pytest

from pump.cmdauth import ROLE_CLINICIAN, CommandAuth, parse_keys
from pump.commands import OP_SUSPEND, roles_for
from pump.hmac import hmac_sha256
from tools.sim.scenario import Scenario, ScenarioError
from tools.sim.sim import Simulation, main

BASE = {
    "days": 1,
    "pump": {"nl_per_step": 200, "catheter_volume_ul": 150},
    "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
    "fill_ul": 20000,
    "therapy": {"mode": "constant", "dose_ug_per_day": 12000},  # 250 steps an hour
}
FOUR_MG = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
           "therapy": {"mode": "constant", "dose_ug_per_day": 4000}}  # 83.3 steps an hour


def _sim(events, **changes):
    doc = json.loads(json.dumps(BASE))
    doc.update(changes, events=events)
    return Simulation(Scenario(doc))


def _names(res):
    """The alarms raised, but the one every boot of a pump without a pressure sensor raises."""
    return [a["name"] for a in res["alarms"] if a["name"] != "OCCLUSION_SENSING_UNAVAILABLE"]


def _steps_between(sim, t0_h, t1_h):
    before = sim.plant.steps_forward
    sim.advance(int(t1_h * 3600000))
    return sim.plant.steps_forward - before


def test_a_corrupt_newer_program_slot_is_a_held_fallback_until_confirmed():
    sim = _sim([{"at_h": 1, "type": "program", "prescription": FOUR_MG},  # slot b: the program applied
                {"at_h": 3, "type": "flash_corrupt", "store": "prog", "slot": "b"},
                {"at_h": 3.5, "type": "reset"},
                {"at_h": 8, "type": "resume_alarm"}])
    sim.advance(4 * 3600000)
    assert sim.pump.therapy.daily[0][1] == 12000000 and not sim.pump.plan.running  # the older one, held
    assert _steps_between(sim, 4, 8) == 0
    assert _steps_between(sim, 8, 9) == 250  # confirmed: the older program runs
    sim.advance(sim.end_ms)
    res = sim.finish()
    assert {"PROGRAM_FALLBACK", "STORE_CORRUPT"} <= set(_names(res))
    assert [a["priority"] for a in res["alarms"] if a["name"] == "PROGRAM_FALLBACK"] == ["high"]
    assert all(c["ok"] for c in res["commands"]) and res["max_error_steps"] <= 1


def test_both_state_slots_corrupt_hold_until_refilled_and_confirmed():
    sim = _sim([{"at_h": 2, "type": "suspend"},
                {"at_h": 2.5, "type": "flash_corrupt", "store": "state", "slot": "both"},
                {"at_h": 3, "type": "reset"},
                {"at_h": 6, "type": "refill", "fill_ul": 20000, "concentration_ug_per_ml": 10000},
                {"at_h": 6.5, "type": "resume_alarm"}])
    sim.advance(3 * 3600000 + 1)
    assert sim.pump.state_name == "held" and sim.pump.reservoir.remaining_nl == 0
    assert _steps_between(sim, 3, 6.5) == 0  # held, refilled: still held until a clinician confirms
    assert _steps_between(sim, 6.5, 7.5) == 250  # (the user's suspend was lost with the state: the confirmation runs)
    sim.advance(sim.end_ms)
    res = sim.finish()
    assert "STATE_LOST" in _names(res) and all(c["ok"] for c in res["commands"]) and res["max_error_steps"] <= 1


def test_one_corrupt_state_slot_is_an_alarm_and_delivery_goes_on():
    sim = _sim([{"at_h": 2, "type": "flash_corrupt", "store": "state", "slot": "a"}, {"at_h": 2, "type": "reset"}])
    res = sim.run()
    assert _names(res) == ["STORE_CORRUPT"] and res["max_error_steps"] <= 1
    assert abs(res["steps"] - 6000) <= 2


def test_corrupt_event_log_records_are_an_alarm():
    res = _sim([{"at_h": 2, "type": "flash_corrupt", "store": "log", "slot": "a"},
                {"at_h": 2.5, "type": "reset"}]).run()
    assert _names(res) == ["STORE_CORRUPT"] and res["max_error_steps"] <= 1


def test_lost_command_counters_raise_their_alarm_at_the_next_boot():
    sim = _sim([{"at_h": 1, "type": "flash_corrupt", "store": "cmdauth", "slot": "both"},
                {"at_h": 1.5, "type": "reset"}])
    keys = {"clinician": "11" * 32, "patient": "22" * 32}
    auth = CommandAuth(sim.storage, parse_keys(keys), lambda *a: None, 0)  # two BLE commands before the fault
    for counter in (1, 2):
        body = bytes((OP_SUSPEND, ROLE_CLINICIAN)) + counter.to_bytes(4, "little")
        msg = bytearray(body + hmac_sha256(bytes.fromhex(keys["clinician"]), body))
        assert auth.verify(msg, len(msg), 0, roles_for) == 0
    res = sim.run()
    assert _names(res) == ["COMMAND_COUNTERS_LOST"]


def test_corrupting_a_slot_never_written_is_a_refused_scenario_command():
    res = _sim([{"at_h": 1, "type": "flash_corrupt", "store": "cmdauth", "slot": "a"}]).run()
    (cmd,) = res["commands"]
    assert not cmd["ok"] and "no cmdauth slot a written yet" in cmd["error"]


@pytest.mark.parametrize("event, key", [
    ({"at_h": 1, "type": "flash_corrupt", "store": "bonds", "slot": "a"}, "events[0].store"),
    ({"at_h": 1, "type": "flash_corrupt", "store": "prog", "slot": "c"}, "events[0].slot"),
    ({"at_h": 1, "type": "flash_corrupt", "store": "prog"}, "events[0].slot"),
])
def test_a_malformed_flash_corrupt_event_names_its_key(event, key, tmp_path, capsys):
    with pytest.raises(ScenarioError) as e:
        _sim([event])
    assert key in str(e.value)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(dict(BASE, events=[event])))
    assert main([str(path)]) == 2
    assert key in capsys.readouterr().err
