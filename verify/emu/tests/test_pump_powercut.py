"""The power cut at every flash operation of a program command on the deployed pump: the command's counter saved,
the event-log append, the program save and the checkpoint, each on the real port's littlefs. After every cut the
pump boots and runs a valid program (the old or the new one: a command cut short was never answered), with no high
alarm about its stores, no catch-up, and its reservoir estimate within one checkpoint of the STEP pin's truth."""

from pump.commands import OP_PROGRAM
from pump.wire import request
from tools.pumplink import proto as pp
from tools.pumplink.serial import SerialLink
from verify.emu import firmware
from verify.emu.console import EmuPort
from verify.emu.pumprig import STEP, steps_expected

NL_PER_STEP = 20
CHECKPOINT_S = 60
FILL_UL = 20000
OLD = {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
       "therapy": {"mode": "constant", "dose_ug_per_day": 15000}}  # 8.68 steps a second
NEW = {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
       "therapy": {"mode": "constant", "dose_ug_per_day": 6000}}  # 3.47 steps a second
RATES = {15000000: "old", 6000000: "new"}
STORE_ALARMS = (b"STATE_LOST", b"PROGRAM_FALLBACK", b"STORE_CORRUPT", b"COMMAND_COUNTERS_LOST")
DOSE_MS = 6000


def _rising(edges, since_ns):
    return [t for t, lv in edges if lv == 1 and t >= since_ns]


def _link(emu):
    port = EmuPort(emu)
    return SerialLink(port, firmware.CLINICIAN_KEY, clock=port.clock, name="emulated USB console")


def _program_line(counter):
    """The programmer's line for the new program, signed with `counter` (the same line for every cut)."""
    payload = pp.program_payload(NEW, True, True)  # soft limits and the battery's 90 days confirmed (bench rates)
    return request(pp.command_message(firmware.CLINICIAN_KEY, pp.ROLE_CLINICIAN, counter, OP_PROGRAM, payload))


def _booted(emu):
    """Console from the app's first line to its first status line (the app runs, its boot writes are done)."""
    emu.expect(b"pump 0.1.0 on pico_w", 5000)
    return emu.expect(b" steps ", 5000) + emu.expect(b"\n", 100)


def _check_after(rig, trial_ns, label):
    """The pump after a reboot: a valid program, no store alarm, dosing at that program's rate, the estimate within
    one checkpoint of the truth. Returns the program running ("old" / "new")."""
    emu = rig.emu
    console = _booted(emu)
    assert b"PUMP STOPPED" not in console, label
    assert not [a for a in STORE_ALARMS if a in console], (label, console)
    start_ns = emu.t_ns
    emu.run(DOSE_MS)
    st = _link(emu).call("status")
    running = RATES.get(st["rate_nl_per_day"])
    assert st["state_name"] == "running" and running, (label, st)
    dosed = _rising(rig.edges()[STEP].edges, start_ns)
    owed = steps_expected(st["rate_nl_per_day"], NL_PER_STEP, DOSE_MS)
    assert owed - 1 <= len(dosed) <= owed + 2, (label, len(dosed), owed)  # +1: the status read's own instant
    truth_nl = FILL_UL * 1000 - len(_rising(rig.edges()[STEP].edges, trial_ns)) * NL_PER_STEP
    slack_nl = max(RATES) * CHECKPOINT_S // 86400 + NL_PER_STEP
    assert abs(st["reservoir_nl"] - truth_nl) <= slack_nl, (label, st["reservoir_nl"], truth_nl)
    return running


def test_a_power_cut_at_every_flash_operation_of_a_program_command_leaves_a_pump_that_runs(pump, steps):
    rig = pump(pump={"nl_per_step": NL_PER_STEP, "checkpoint_interval_s": CHECKPOINT_S})
    emu = rig.emu
    rig.started()
    assert rig.programmer("refill", "--fill-ul", str(FILL_UL), "--concentration", "1000")[0] == 0
    assert rig.send(OLD, "--confirm-soft")[0] == 0  # answered: saved and checkpointed before the first step
    counter = rig.link.counter  # the next counter the pump has not seen
    snapshot = emu.flash()
    # the reference: the same command, uncut, from the same flash
    emu.power_on_with(snapshot)
    trial_ns = emu.t_ns
    _booted(emu)
    emu.flash_ops(clear=True)
    emu.write(_program_line(counter))
    emu.expect(b"@pump ans ", 3000)
    emu.expect(b"\n", 100)
    ops = emu.flash_ops(clear=True, log=True)["log"]
    assert len(ops) >= 4, ops  # the counter, the log record, the program, the checkpoint: each a littlefs write
    assert _check_after_uncut(rig, trial_ns) == "new"
    outcomes = []
    for n in range(1, len(ops) + 1):
        emu.power_on_with(snapshot)
        trial_ns = emu.t_ns
        _booted(emu)
        emu.flash_ops(clear=True)
        emu.cut_power(after_ops=n)
        emu.write(_program_line(counter))
        result = emu.run(3000)
        assert result.reason == "power_cut", "operation %d of %d was not reached" % (n, len(ops))
        cut = emu.power_cuts[-1]
        assert (cut["kind"], cut["offset"]) == (ops[n - 1]["kind"], ops[n - 1]["offset"]), n
        emu.files()  # littlefs mounts on the host as the cut left it
        emu.run(1)  # power back on
        outcomes.append(_check_after(rig, trial_ns, "cut at operation %d (%s)" % (n, cut["kind"])))
    steps("%d cuts" % len(ops), "%d old, %d new" % (outcomes.count("old"), outcomes.count("new")))
    assert outcomes[0] == "old" and outcomes[-1] == "new"  # before anything landed; with all but the last op
    assert outcomes == sorted(outcomes, key=lambda o: o == "new")  # once the new program counts, it stays


def _check_after_uncut(rig, trial_ns):
    rig.emu.reset()  # a power cut after the command completed: the new program, from flash
    return _check_after(rig, trial_ns, "uncut")
