"""Board modules on CPython: roles built from small fakes of machine pins/ADC/RTC/WDT and a PIO emulator for rp2."""

import datetime
import os
import runpy
import sys

import pytest

import board
import pump.app as pump_app
from board import drivers, failsafe
from board.sim import hardware as sim_hardware
from board.sim import radio as fake_bluetooth
from pump.errors import E_MALFORMED, E_RANGE, E_STORAGE, PumpError
from support.flash import FakeStorage
from support.machine import Bench, FakeStateMachine, board_rig, esp32_devkit, make_machine, make_rp2, pico_w
from support import ROOT as _REPO



def _rising(writes):
    return [t for (t, v), (_, prev) in zip(writes[1:], writes) if v == 1 and prev == 0]


# --- board selection, config, calendar ----------------------------------------------------------------------------


def test_board_for_platform():
    assert board.board_for_platform("rp2") == "pico_w"
    assert board.board_for_platform("esp32") == "esp32_devkit"
    assert board.board_for_platform("linux") == "sim"
    assert board.board_for_platform("darwin") == "sim"


def test_unknown_board_and_unknown_config_key_are_refused():
    with pytest.raises(PumpError) as e:
        board.build("nope")
    assert e.value.code == E_MALFORMED
    with pytest.raises(PumpError) as e:
        drivers.merge_config(pico_w.DEFAULT_PINS, pico_w.DEFAULT_SETTINGS, {"stp": 5})
    assert (e.value.code, e.value.detail) == (E_MALFORMED, "config.json: hw.stp: unknown key")
    cfg = drivers.merge_config(pico_w.DEFAULT_PINS, pico_w.DEFAULT_SETTINGS, {"step": 10})
    assert cfg["step"] == 10 and cfg["dir"] == pico_w.DEFAULT_PINS["dir"]


def test_rtc_day_count_and_weekday_match_datetime_over_three_centuries():
    epoch = datetime.date(2000, 1, 1)
    day = datetime.date(1900, 1, 1)
    while day.year < 2200:
        days = (day - epoch).days
        assert drivers.days_from_civil(day.year, day.month, day.day) == days
        assert drivers.civil_from_days(days) == (day.year, day.month, day.day)
        assert drivers.weekday(days) == day.weekday()
        day += datetime.timedelta(days=1)


def test_rtc_seconds_since_2000_both_ways():
    fm = make_machine(Bench(), "rp2")
    rtc = drivers.Rtc(fm.RTC())
    fm.RTC.t = (2024, 2, 29, 3, 13, 45, 7, 123)
    expected = int((datetime.datetime(2024, 2, 29, 13, 45, 7) - datetime.datetime(2000, 1, 1)).total_seconds())
    assert rtc.now_ms() == expected * 1000
    rtc.set_ms((expected + 86400 + 3600) * 1000)
    assert fm.RTC.t == (2024, 3, 1, 4, 14, 45, 7, 0)  # a Friday
    assert rtc.now_ms() == (expected + 86400 + 3600) * 1000
    with pytest.raises(PumpError) as e:
        rtc.set_ms(-1)
    assert e.value.code == E_RANGE


# --- stepper ------------------------------------------------------------------------------------------------------


def test_pio_program_emits_exactly_n_pulses_at_a_fixed_rate(monkeypatch):
    monkeypatch.setattr(pico_w, "rp2", make_rp2())
    bench = Bench()
    step = make_machine(bench, "rp2").Pin(2, 1, value=0)
    sm = FakeStateMachine(0, pico_w._step_train(), 16000, step)
    for n in (0, 1, 2, 7, 300):
        sm.edges = []
        sm.put(n)
        assert sm.rx == [n] and sm.get() == n  # the echo arrives only after the train
        rising = [c for c, v in sm.edges if v == 1]
        falling = [c for c, v in sm.edges if v == 0]
        assert len(rising) == len(falling) == n
        assert all(f - r == 16 for r, f in zip(rising, falling))  # high 16 cycles
        assert all(b - a == 32 for a, b in zip(rising, rising[1:]))  # period 32 cycles, low 16
        assert step.level == 0 and sm.pc == 0  # STEP low, waiting on the next pull


def test_pico_stepper_sequence(monkeypatch):
    bench, fm = board_rig(monkeypatch, pico_w, "rp2")
    hw = pico_w.build()
    assert bench.log[0][1:] == (4, 1)  # EN driven high before any other pin
    sm = FakeStateMachine.made[-1]
    assert sm.freq == 500 * 32 and sm.running
    bench.log = []
    hw.stepper.step_forward(3)
    hw.stepper.step_reverse(2)
    hw.stepper.step_forward()
    seq = [(p, v) for _, p, v in bench.log if p != 2]
    assert seq == [(3, 1), (4, 0), (4, 1), (3, 0), (4, 0), (4, 1), (3, 1), (4, 0), (4, 1)]
    assert len(_rising([(0, 0)] + bench.writes(2))) == 6
    assert hw.stepper.max_steps_per_s == 500


def test_pico_stuck_state_machine_times_out_disabled(monkeypatch):
    bench, fm = board_rig(monkeypatch, pico_w, "rp2")
    made = []

    class Stuck:
        def put(self, n):
            pass

        def rx_fifo(self):
            return 0

    def make_sm():
        made.append(Stuck())
        return made[-1]

    en = fm.Pin(4)
    st = pico_w.PioStepper(make_sm, fm.Pin(3), en, bench.sleep_us, bench.sleep_ms, bench.ticks_ms, 500, 100, 1, 5, 100)
    with pytest.raises(OSError):
        st.step_forward(50)
    assert en.level == 1 and len(made) == 2  # driver off, state machine re-initialised
    assert bench.t_us >= 100000  # waited the train's 100 ms before giving up


def test_esp32_pin_stepper_count_and_bounded_rate():
    bench = Bench()
    fm = make_machine(bench, "esp32")
    st = esp32_devkit.PinStepper(fm.Pin(18), fm.Pin(19), fm.Pin(23), bench.sleep_us, 500, 100, 0, 5, 100)
    bench.log = []
    st.step_forward(4)
    steps = bench.writes(18)
    rising = _rising([(0, 0)] + steps)
    assert len(rising) == 4
    assert all(b - a >= 2000 for a, b in zip(rising, rising[1:]))
    assert all(f - r >= 1000 for (r, _), (f, _) in zip(steps[0::2], steps[1::2]))
    ((t_dir, dir_level),) = bench.writes(19)
    (t_on, _), (t_off, _) = bench.writes(23)
    assert dir_level == 0  # dir_forward = 0 in this wiring
    assert t_dir + 5 <= t_on < rising[0] and steps[-1][0] <= t_off


def test_bad_step_counts_are_refused_without_enabling():
    bench = Bench()
    fm = make_machine(bench, "esp32")
    st = esp32_devkit.PinStepper(fm.Pin(18), fm.Pin(19), fm.Pin(23), bench.sleep_us, 500, 100, 1, 5, 100)
    for n in (-1, 101, "3", 2.0):
        with pytest.raises(PumpError) as e:
            st.step_forward(n)
        assert (e.value.code, e.value.detail) == (E_RANGE, "n")
    st.step_forward(0)
    assert bench.writes(23) == [(0, 1)]  # only the initial "off"


def test_failure_while_stepping_disables_and_disable_never_raises():
    bench = Bench()
    fm = make_machine(bench, "esp32")
    en = fm.Pin(23)

    class Broken(drivers.StepDir):
        def _pulse(self, n):
            raise OSError(5)

    st = Broken(fm.Pin(19), en, bench.sleep_us, 500, 100, 1, 5, 100)
    with pytest.raises(OSError):
        st.step_forward(1)
    assert en.level == 1

    class FailingPin:
        failing = False

        def value(self, v=None):
            if self.failing:
                raise OSError(19)

    pin = FailingPin()
    st = Broken(fm.Pin(19), pin, bench.sleep_us, 500, 100, 1, 5, 100)
    pin.failing = True
    st.disable()  # must not raise
    with pytest.raises(OSError) as e:
        st.step_forward(1)
    assert e.value.args[0] == 19  # the first failure surfaces; the clean-up in between raises nothing


# --- storage, analog, watchdog, reset -----------------------------------------------------------------------------


def test_storage_files(tmp_path):
    root = str(tmp_path / "data")
    s = drivers.FileStorage(os, root)
    assert s.read("store") is None and os.path.isdir(root)
    s.write("store", b"abc")
    s.append("store", b"de")
    assert s.read("store") == b"abcde"
    s.write("store", b"x")
    assert s.read("store") == b"x"
    s.append("log", b"1")
    assert s.read("log") == b"1"
    s.remove("store")
    s.remove("store")
    assert s.read("store") is None
    for bad in ("", "a/b", ".hidden", "x" * 33, None):
        with pytest.raises(PumpError) as e:
            s.read(bad)
        assert e.value.code == E_MALFORMED


def test_storage_failure_is_a_storage_error(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_bytes(b"")  # a file where the directory should be
    s = drivers.FileStorage(os, str(blocker))
    with pytest.raises(PumpError) as e:
        s.write("store", b"abc")
    assert (e.value.code, e.value.detail) == (E_STORAGE, "store")


def test_battery_and_pressure_scaling(monkeypatch):
    bench, _ = board_rig(monkeypatch, pico_w, "rp2")
    hw = pico_w.build()
    assert hw.pressure is None
    assert abs(hw.battery.read_mv() - 3300) <= 2  # 1650 mV at the pin, 2:1 divider
    bench.adc_mv[26] = [1000, 1002, 1004, 1006]
    assert abs(hw.battery.read_mv() - 2006) <= 2  # mean of four samples, times two
    bench.adc_mv[27] = [1650]
    hw = pico_w.build({"pressure_adc": 27})
    assert abs(hw.pressure.read_kpa_x10() - 500) <= 1  # (1650 - 330) * 1000 // 2640
    bench, _ = board_rig(monkeypatch, esp32_devkit, "esp32")
    hw = esp32_devkit.build({"pressure_adc": 35})
    bench.adc_mv[35] = [2330]
    assert hw.battery.read_mv() == 3300
    assert hw.pressure.read_kpa_x10() == 1000


def test_ble_role_is_the_boards_radio_unless_turned_off(monkeypatch):
    for mod, port in ((pico_w, "rp2"), (esp32_devkit, "esp32")):
        board_rig(monkeypatch, mod, port)
        hw = mod.build()
        assert isinstance(hw.ble, fake_bluetooth.BLE) and hw.bluetooth is fake_bluetooth
        assert hw.keys_path == "keys.json" and len(hw.urandom(4)) == 4
        hw = mod.build({"ble": 0})
        assert hw.ble is None


def test_watchdog_is_created_lazily_within_board_limits(monkeypatch):
    for mod, port, too_long, too_short in ((pico_w, "rp2", 8389, 0), (esp32_devkit, "esp32", 60001, 999)):
        _, fm = board_rig(monkeypatch, mod, port)
        hw = mod.build()
        hw.watchdog.feed()
        assert fm.WDT.made == []
        hw.watchdog.start(2000)
        hw.watchdog.feed()
        assert [(w.timeout, w.feeds) for w in fm.WDT.made] == [(2000, 1)]
        for bad in (too_long, too_short):
            with pytest.raises(PumpError) as e:
                hw.watchdog.start(bad)
            assert e.value.code == E_RANGE


def test_pico_reset_cause_tells_requested_reset_from_watchdog(monkeypatch):
    bench, fm = board_rig(monkeypatch, pico_w, "rp2")
    hw = pico_w.build()
    assert (hw.name, hw.uid_hex, hw.reset_cause) == ("pico_w", "deadbeef00010203", board.RESET_POWER_ON)
    assert hw.clock.ticks_ms() == bench.ticks_ms()
    fm.cause = fm.WDT_RESET
    assert pico_w.build().reset_cause == board.RESET_WATCHDOG
    hw.reset()  # marks the scratch register, then machine.reset()
    assert fm.resets == [1] and bench.log[-1][1:] == (4, 1)
    assert pico_w.build().reset_cause == board.RESET_SOFT
    assert pico_w.build().reset_cause == board.RESET_WATCHDOG  # the mark is read once


def test_esp32_reset_cause_mapping(monkeypatch):
    _, fm = board_rig(monkeypatch, esp32_devkit, "esp32")
    expected = {
        1: board.RESET_POWER_ON,
        3: board.RESET_WATCHDOG,
        5: board.RESET_SOFT,
        2: board.RESET_OTHER,
        4: board.RESET_OTHER,
        0: board.RESET_OTHER,
    }
    for raw, cause in expected.items():
        fm.cause = raw
        assert esp32_devkit.build().reset_cause == cause


# --- boot.py ------------------------------------------------------------------------------------------------------


def test_boot_disables_the_driver_first(monkeypatch):
    path = os.path.join(_REPO, "boot.py")
    g = runpy.run_path(path)  # CPython: no machine module, nothing happens
    assert g["_EN_FALLBACK"] == {"rp2": pico_w.DEFAULT_PINS["en"], "esp32": esp32_devkit.DEFAULT_PINS["en"]}
    for platform, port, en in (("rp2", "rp2", 4), ("esp32", "esp32", 23)):
        bench = Bench()
        monkeypatch.setitem(sys.modules, "machine", make_machine(bench, port))
        monkeypatch.setattr(sys, "platform", platform)
        runpy.run_path(path)
        assert [(p, v) for _, p, v in bench.log] == [(en, 1)]


def test_rtc_keeps_milliseconds_where_the_port_counts_microseconds():
    fm = make_machine(Bench(), "esp32")
    rtc = drivers.Rtc(fm.RTC(), subsec_us=True)
    rtc.set_ms(86400000 + 1234)
    assert fm.RTC.t[7] == 234000
    assert rtc.now_ms() == 86400000 + 1234


# --- config file (board.configured) ----------------------------------------------------------------------------


def test_configured_lays_the_config_file_over_the_board_defaults(monkeypatch, tmp_path):
    board_rig(monkeypatch, pico_w, "rp2")
    path = tmp_path / "config.json"
    path.write_text('{"format": 1, "board": "pico_w", "hw": {"pressure_adc": 27}, "pump": {"nl_per_step": 190}}')
    hw, pump = board.configured("pico_w", str(path))
    assert hw.name == "pico_w" and hw.pressure is not None
    assert pump == {"nl_per_step": 190}
    assert board.build_configured("pico_w", str(path)).pressure is not None  # the REPL's view: the hardware alone


def test_configured_without_a_file_uses_the_defaults(monkeypatch, tmp_path):
    board_rig(monkeypatch, esp32_devkit, "esp32")
    hw, pump = board.configured("esp32_devkit", str(tmp_path / "missing.json"))
    assert hw.name == "esp32_devkit" and hw.pressure is None and pump is None


def test_configured_refuses_a_bad_file_before_touching_a_pin(monkeypatch, tmp_path):
    bench, _ = board_rig(monkeypatch, pico_w, "rp2")
    path = tmp_path / "config.json"
    for text, detail in (
        ("{not json", "config: %s is not valid JSON" % path),
        ('{"format": 1, "board": "esp32_devkit"}', "config.json: board: 'esp32_devkit', but this board is pico_w"),
        ('{"format": 1, "board": "pico_w", "hw": {"stp": 5}}', "config.json: hw.stp: unknown key"),
    ):
        path.write_text(text)
        with pytest.raises(PumpError) as e:
            board.configured("pico_w", str(path))
        assert (e.value.code, e.value.detail) == (E_MALFORMED, detail)
    assert bench.log == []  # (a typo in "hw" is caught by merge_config, before the first pin is made)


def test_the_simulated_board_reads_no_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    hw, pump = board.configured("sim")
    assert hw.name == "sim" and pump is None


def test_the_simulated_board_takes_parts_only_and_names_a_key_it_does_not_know():
    # the app's arguments (configuration, library, first set-up, run time) are the app's, never the board's: a caller
    # still handing them to the board is told so, not silently ignored
    for key in ("setup", "pump_config", "library_path", "days", "stpper"):
        with pytest.raises(ValueError) as e:
            board.build("sim", {key: None})
        assert str(e.value).startswith("board.sim config: unknown key %r (one of clock, speed, plant," % key)
    hw = board.build("sim", {"encoder_counts_per_step": 0, "stall_diag": False, "pressure": None})
    for role in ("ble", "bluetooth", "urandom", "keys_path", "buzzer", "led", "stall", "encoder", "pressure",
                 "watchdog", "battery", "stepper", "storage", "rtc", "clock"):
        assert hasattr(hw, role), role  # every role defined, None where the board lacks it
    assert (hw.encoder, hw.stall, hw.pressure, hw.ble, hw.urandom) == (None, None, None, None, None)


def test_make_run_gives_the_demo_pump_its_set_up_run_time_and_library(monkeypatch):
    monkeypatch.setenv("PUMP_DAYS", "2")
    setup, run_for_ms, library_path = sim_hardware.demo_app_args()
    assert setup is sim_hardware.DEMO_SETUP and run_for_ms == 2 * 86400000 and library_path == "lib/druglib.json"
    monkeypatch.delenv("PUMP_DAYS")
    assert sim_hardware.demo_app_args()[1] is None  # no end


# --- the fail-safe: whatever fails before the app runs (board.start, board.failsafe) ------------------------------


def _buzzer_bursts(bench, pin):
    """Start times (ms) of the buzzer's pulses on PWM `pin`, and how many there were per 10 s."""
    return [t // 1000 for t, p, v in bench.log if p == ("pwm", pin) and v]


def _fail_safe_rig(monkeypatch, periods=7):
    bench, fm = board_rig(monkeypatch, pico_w, "rp2")
    lines = []
    seen = {}

    def fs(exc, name, hw):
        seen.update(exc=exc, name=name, hw=hw)
        failsafe.fail_safe(exc, name, hw, machine=fm, out=lines.append, sleep_ms=bench.sleep_ms, periods=periods)

    return bench, fm, lines, seen, fs


def test_the_fail_safe_pins_are_each_boards_defaults():
    for mod in (pico_w, esp32_devkit):
        assert failsafe.PINS[mod.NAME] == (mod.DEFAULT_PINS["en"], mod.DEFAULT_PINS["buzzer"])


def test_a_config_that_cannot_be_read_ends_in_the_fail_safe_not_a_repl_or_a_reset(monkeypatch, tmp_path):
    bench, fm, lines, seen, fs = _fail_safe_rig(monkeypatch)
    path = tmp_path / "config.json"
    path.write_text('{"format": 1, "board": "pico_w", "pump": {"nl_per_step": 0}}')
    assert board.start("pico_w", str(path), fail_safe=fs) is None
    assert seen["hw"] is None and seen["exc"].code == E_RANGE  # the board was never built from it
    assert [(p, v) for _, p, v in bench.log if p == pico_w.DEFAULT_PINS["en"]] == [(4, 1)]  # driver off
    assert lines[0] == ("PUMP STOPPED, cannot start: E101 value out of range: config.json: pump.nl_per_step: 0 not in "
                        "1..100000. Motor off, alarm sounding; fix the cause, then reset.")
    assert lines == [lines[0]] * 2  # once at once, again after a minute (70 s of patterns here)
    starts = _buzzer_bursts(bench, pico_w.DEFAULT_PINS["buzzer"])
    assert len(starts) == 5 * 7  # the high-priority pattern: 5 pulses every 10 s
    assert starts[:6] == [0, 250, 500, 750, 1000, 10000]
    assert fm.resets == [] and fm.WDT.made == []  # no reset loop, no watchdog to cause one
    assert bench.log[-1][1:] == (("pwm", 15), 0)  # silent when it returns (only tests stop it)


def test_an_exception_building_the_app_stops_the_built_motor_and_sounds_its_buzzer(monkeypatch, tmp_path):
    bench, fm, lines, seen, fs = _fail_safe_rig(monkeypatch, periods=1)

    def broken_app(*args, **kw):
        raise MemoryError("heap exhausted")

    monkeypatch.setattr(pump_app, "App", broken_app)
    path = tmp_path / "config.json"
    path.write_text('{"format": 1, "board": "pico_w", "hw": {"buzzer": 16}}')
    assert board.start("pico_w", str(path), fail_safe=fs) is None
    assert seen["hw"].name == "pico_w"
    en = [v for _, p, v in bench.log if p == pico_w.DEFAULT_PINS["en"]]
    assert en[-2:] == [1, 1]  # the built stepper disabled, then the pin itself
    assert "MemoryError: heap exhausted" in lines[0]
    assert len(_buzzer_bursts(bench, 16)) == 5  # the configured buzzer, built
    assert fm.resets == []


def test_stored_data_the_boot_cannot_read_from_flash_ends_in_the_fail_safe(monkeypatch):
    # a storage role failing at boot (not a corrupt record: a failing device) is a fault before the app runs
    class Broken(FakeStorage):
        def read(self, name):
            raise OSError(5)

    lines = []
    monkeypatch.setattr(board, "configured", lambda name, path: (board.build("sim", {"storage": Broken()}), None))
    assert board.start("sim", fail_safe=lambda e, name, hw: failsafe.fail_safe(e, name, hw, out=lines.append)) is None
    assert lines == ["PUMP STOPPED, cannot start: E401 storage failure: log.0. Motor off, alarm sounding; fix the "
                     "cause, then reset."]


def test_off_a_board_the_fail_safe_says_why_and_returns(capsys):
    failsafe.fail_safe(ValueError("x"), "sim")  # CPython: no machine module, nothing to sound
    assert capsys.readouterr().out == ("PUMP STOPPED, cannot start: ValueError: x. Motor off, alarm sounding; fix the "
                                       "cause, then reset.\n")


def test_main_py_exits_1_after_the_fail_safe_off_a_board(monkeypatch, capsys):
    def broken_app(*args, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(pump_app, "App", broken_app)
    monkeypatch.setenv("PUMP_BOARD", "sim")
    with pytest.raises(SystemExit) as e:
        runpy.run_path(os.path.join(_REPO, "main.py"), run_name="__main__")
    assert e.value.code == 1 and "PUMP STOPPED, cannot start: RuntimeError: boom" in capsys.readouterr().out


def test_the_app_runs_when_nothing_fails(monkeypatch):
    started = []
    monkeypatch.setattr(pump_app, "run", lambda app: started.append(app) or app)
    app = board.start("sim", fail_safe=lambda *a: pytest.fail("no fail-safe expected"))
    assert started == [app] and app.pump.therapy is not None
