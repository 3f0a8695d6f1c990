"""Simulated board, the hardware object: every role of docs/roles.md on the plant (board.sim.roles), built from a
config of parts; and the demo pump `make run` starts (its set-up, run time and drug library: the app's arguments)."""

from board.drivers import Hardware
from board.sim.clock import ScaledClock, SimRtc
from board.sim.flash import FakeStorage
from board.sim.hydraulics import Hydraulics
from board.sim.plant import Plant
from board.sim.roles import (SimBattery, SimButton, SimBuzzer, SimEncoder, SimLed, SimPressure, SimStall, SimStepper,
                             SimWatchdog)
from pump.config import RESET_POWER_ON, PumpConfig
from pump.errors import E_MALFORMED, E_RANGE, PumpError
from pump.jsonfile import read_json

NAME = "sim"
UID_HEX = "5e4d000000000001"
# what build() takes: the parts a simulator makes itself, and the roles it leaves out or replaces
_CONFIG_KEYS = ("clock", "speed", "plant", "storage", "rtc", "pressure", "pressure_seed", "encoder_counts_per_step",
                "stall_diag", "bolus_button", "console", "ble", "bluetooth", "keys_path", "urandom", "aes")


class SimHardware(Hardware):
    """Hardware with the plant attached; a reset request is recorded (the simulator restarts the app). `roles`: the
    optional ones by name, as board.drivers.Hardware takes them (buzzer, led, stall, encoder, ble, ...)."""

    def __init__(self, clock, plant, storage, rtc, pressure, **roles):
        super().__init__(
            NAME, UID_HEX, clock, rtc, SimStepper(plant), storage, SimBattery(plant, clock=clock), pressure,
            SimWatchdog(clock), RESET_POWER_ON, self._request_reset, **roles)
        self.plant = plant
        self.reset_requested = False

    def _request_reset(self):
        self.reset_requested = True


DEMO_SETUP = {
    "fill_ul": 20000,
    "prescription": {
        "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
        "therapy": {
            "mode": "flex",
            "steps": [{"start": "00:00", "dose_ug_per_day": 4000}, {"start": "08:00", "dose_ug_per_day": 6000}],
        },
        "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4},
    },
}

DEMO_LIBRARY = "lib/druglib.json"  # the repository's drug library (make run starts in the repository's root)


def _getenv(name):
    import os

    getenv = getattr(os, "getenv", None)  # ports without an environment (webassembly) have none
    return getenv(name) if getenv is not None else None


def _env_int(name, default, lo, hi):
    """An environment knob as a whole number within lo..hi (tools/run checks them first and says so in one line);
    anything else is refused here too, naming it, so a bad value can never run a pump: a speed of 0 divides by zero, a
    negative run time stops at once."""
    v = _getenv(name)
    if not v:
        return default
    try:
        n = int(v)
    except ValueError:
        n = None
    if n is None or not lo <= n <= hi:
        raise PumpError(E_RANGE, "%s=%s: allowed a whole number %d..%d" % (name, v, lo, hi))
    return n


def demo_setup():
    """The first boot's fill and prescription: PUMP_RX's prescription file (make run RX=...) or the demo's."""
    path = _getenv("PUMP_RX")
    if not path:
        return DEMO_SETUP
    doc = read_json(path, "PUMP_RX")
    if doc is None:
        raise PumpError(E_MALFORMED, "PUMP_RX=%s: no such file" % path)
    return {"fill_ul": DEMO_SETUP["fill_ul"], "prescription": doc}


def demo_app_args():
    """(setup, run_for_ms, library path) of `make run`: the first boot's fill and prescription, PUMP_DAYS of pump
    time from the environment (None: no end), the repository's drug library."""
    days = _env_int("PUMP_DAYS", 0, 1, 3650)
    return demo_setup(), days * 86400000 if days else None, DEMO_LIBRARY


def build(config=None):
    """The simulated board from `config`'s parts (_CONFIG_KEYS; an unknown key is refused): clock (default: a
    ScaledClock at `speed`, or PUMP_SPEED from the environment), plant (default: the demo pump with catheter
    hydraulics), storage, rtc, pressure (default: a SimPressure on the plant's hydraulics, seed `pressure_seed`, when
    it has them; None: no sensor), encoder_counts_per_step (default 1, 0: no encoder), stall_diag (default True),
    bolus_button (default True: a SimButton nothing presses but a test), console (the wired path's input, with
    `readinto(buf)` as board.links.ConsoleInput; default none), ble and bluetooth (a fake radio or the Bumble shim;
    default none), keys_path, urandom (default os.urandom, looked up only with a radio: the webassembly port has
    none), aes (the secure session's block cipher, aes(key16) with encrypt(in, out); default board.sim.aes: cryptolib's,
    or a pure-Python stand-in where the interpreter has none; looked up only with a radio)."""
    config = config or {}
    for key in config:
        if key not in _CONFIG_KEYS:
            raise ValueError("board.sim config: unknown key %r (one of %s)" % (key, ", ".join(_CONFIG_KEYS)))
    clock = config.get("clock") or ScaledClock(config.get("speed") or _env_int("PUMP_SPEED", 3600, 1, 3600))
    plant = config.get("plant")
    if plant is None:  # make run: the demo pump, with catheter hydraulics so the pressure sensor has a line to watch
        setup = demo_setup()
        plant = Plant(fill_ul=setup["fill_ul"], conc_ug_per_ml=setup["prescription"]["drug"]["concentration_ug_per_ml"],
                      catheter_ul=PumpConfig(None).catheter_volume_ul)
        Hydraulics(clock).attach(plant)
    if "pressure" in config:
        pressure = config["pressure"]
    elif plant.hydraulics is not None:
        pressure = SimPressure(plant.hydraulics, config.get("pressure_seed", 1))
    else:
        pressure = None
    cps = config.get("encoder_counts_per_step", 1)
    ble = config.get("ble")
    urandom = config.get("urandom")
    if urandom is None and ble is not None:
        import os

        urandom = os.urandom
    aes = config.get("aes")
    if aes is None and ble is not None:
        from board.sim.aes import new_ecb as aes  # cryptolib's, or the stand-in where the interpreter has none
    return SimHardware(
        clock, plant, config.get("storage") or FakeStorage(), config.get("rtc") or SimRtc(clock), pressure,
        buzzer=SimBuzzer(clock), led=SimLed(), stall=SimStall(plant) if config.get("stall_diag", True) else None,
        encoder=SimEncoder(plant, cps) if cps else None, ble=ble, bluetooth=config.get("bluetooth"), urandom=urandom,
        aes=aes, keys_path=config.get("keys_path"), console=config.get("console"),
        button=SimButton() if config.get("bolus_button", True) else None)
