"""Test rig for the pump over BLE: a scenario pump on the air (tools.sim.ble) with known keys, served as one of the
boards' stock stacks (PROFILES: every end-to-end test runs on both), a phone that opens the secure session, and what
the person pairing does where the stack pairs (types the passkey the pump prints)."""

import asyncio

from bumble import att

from tools.pumplink import proto as pp
from tools.pumplink import session as ps
from tools.pumplink.phone import Phone
from tools.sim.ble import BleSim
from tools.sim.scenario import Scenario
from tools.sim.sim import Simulation

KEYS = {"clinician": "c1" * 32, "patient": "9a" * 32, "monitor": "3e" * 32}
KEY = {pp.ROLE_CLINICIAN: bytes.fromhex(KEYS["clinician"]), pp.ROLE_PATIENT: bytes.fromhex(KEYS["patient"]),
       ps.ROLE_MONITOR: bytes.fromhex(KEYS["monitor"])}
PROFILES = ("rp2-btstack", "esp32-nimble")
PB = {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}
SCENARIO = {"days": 30, "pump": {"nl_per_step": 200}, "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
            "fill_ul": 20000, "therapy": {"mode": "constant", "dose_ug_per_day": 5000}, "patient_bolus": PB}
HOUR_MS = 3600000


def run(coro_fn, timeout_s=30):
    """Run one test body on a fresh event loop (and so a fresh in-process link)."""

    async def main():
        return await asyncio.wait_for(coro_fn(), timeout_s)

    return asyncio.run(main())


async def until(condition, timeout_s=10):
    """Wait (polling every 5 ms) until condition() holds; fail the test after timeout_s."""
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met in %g s" % timeout_s)


def pump_on_air(doc=None, keys=KEYS, **kwargs):
    """A scenario pump (default: 5 mg/day morphine, patient bolus enabled) serving BLE (`profile=`: the stack;
    default PUMP_BLE_STACK, else esp32-nimble); nonces and passkeys from a counter."""
    seed = iter(range(1, 1 << 30))
    return BleSim(Simulation(Scenario(doc or SCENARIO)), keys=keys, speed=1000,
                  urandom=lambda n: next(seed).to_bytes(n, "little"), **kwargs)


async def typed_passkey(bsim):
    """What the person pairing types: the passkey the pump prints, once it has printed it."""
    while not any(t.startswith("BLE pairing passkey") for t in bsim.printed):
        await asyncio.sleep(0.001)
    return int([t for t in bsim.printed if t.startswith("BLE pairing passkey")][-1].split()[-1])


async def connect(bsim, central=None, role=pp.ROLE_CLINICIAN):
    """A phone (with every role's key) connected to the pump, subscribed, a session open in `role` (None: none)."""
    return await Phone.connect(bsim.name, KEY, central, role)


async def pair(phone, bsim):
    """Passkey pairing as the person does it where the stack pairs (nothing to do on rp2-btstack); returns the first
    status notified after it (in the phone's session)."""
    if not bsim.ble.pairing:
        return pp.decode_status(await phone.message(pp.STATUS_UUID))
    return await phone.pair_mitm(lambda: typed_passkey(bsim))


async def refused(op):
    """The ATT error code an operation is refused with."""
    try:
        await op
    except att.ATT_Error as e:
        return e.error_code
    raise AssertionError("not refused")
