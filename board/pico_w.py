"""Raspberry Pi Pico W: pin map, PIO step-pulse generator, and the hardware object built from machine/rp2."""

import asyncio
import binascii
import os
import select
import sys
import time

import machine
import rp2

from board import RESET_SOFT, drivers, links
from pump.compat import const, ticks_add, ticks_diff

try:
    from typing import TYPE_CHECKING
except ImportError:
    TYPE_CHECKING = False
if TYPE_CHECKING:
    from rp2.asm_pio import *  # noqa: F403  (names of the PIO assembler, for the type checker only)

NAME = "pico_w"

# GPIO numbers (the LED hangs off the CYW43 wireless chip and is addressed by name). boot.py reads "en" from here.
DEFAULT_PINS = {
    "step": 2,  # PIO set pin
    "dir": 3,
    "en": 4,  # active low; needs an external pull-up so the driver stays off until boot.py runs
    "battery_adc": 26,  # ADC0, external divider
    "pressure_adc": None,  # 27 (ADC1) when an analog pressure sensor is fitted
    "buzzer": 15,  # PWM7 B
    "led": "LED",
    "stall_diag": None,  # 5 when a TMC2209 DIAG output is wired (rising edge = StallGuard stall or driver error)
    "encoder": None,  # 8 when an optical encoder on the mechanism is wired (open collector, internal pull-up)
    "bolus_button": None,  # 9 when a patient bolus button is wired (a switch to GND, internal pull-up)
    "i2c_sda": 6,  # I2C1, reserved for a digital pressure sensor
    "i2c_scl": 7,
}

# What config.json's "hw" may do with the pins (board.drivers.check_pins; tools.boardconfig reads it from this source):
# GP0-GP28 exist; GP23, GP24, GP25 and GP29 belong to the CYW43 wireless chip; the ADC inputs are GP26-GP28 (ADC3 is
# GP29, the chip's, and VSYS/3); EN is fixed: boot.py drives it high before config.json is read.
PIN_RULES = {
    "gpio": tuple(range(29)),
    "reserved": {23: "CYW43 wireless power", 24: "CYW43 wireless data", 25: "CYW43 wireless chip select",
                 29: "CYW43 wireless clock and VSYS/3"},
    "adc": (26, 27, 28),
    "input_only": (),
    "fixed": ("en",),
}

DEFAULT_SETTINGS = {
    "ble": 1,  # 0: no BLE (the radio stays off; status only on the console)
    "max_steps_per_s": 500,
    "encoder_counts_per_step": 2,  # encoder edges a motor step gives: both edges of one disc slot per step
    "max_steps_per_call": 2000,  # 4 s at 500 steps/s: a call blocks, so it must stay well inside the watchdog timeout
    "dir_forward": 1,  # DIR level that moves the pump forward (depends on motor wiring)
    "dir_setup_us": 5,  # DIR -> first STEP edge: A4988 200 ns, DRV8825 650 ns, TMC2209 20 ns
    "en_setup_us": 100,  # EN low -> first STEP edge
    "pio_sm": 0,  # PIO0; the CYW43 driver uses PIO1
    "adc_vref_mv": 3300,
    "adc_samples": 4,
    "battery_div_num": 2,  # 100k/100k divider: battery = 2 x pin
    "battery_div_den": 1,
    "pressure_offset_mv": 330,  # sensor output at 0 kPa
    "pressure_span_mv": 2640,  # output change over the span below
    "pressure_span_kpa_x10": 1000,
}

_WDT_MAX_MS = const(8388)  # RP2040 watchdog counter limit
_PIO_CYCLES_PER_STEP = const(32)  # step_train: 16 cycles high, 16 low
_WAIT_MARGIN_MS = const(50)
_ETIMEDOUT = const(110)
_EIO = const(5)
# machine.reset() on rp2 reboots through the watchdog, so reset_cause() cannot tell it from a watchdog timeout.
# hw.reset() leaves this mark in watchdog scratch register 0 (kept across a watchdog reboot, cleared at power-on;
# the SDK uses only scratch 4..7).
_WDT_SCRATCH0 = 0x4005800C  # above 2**30: a plain int, not a const
_RESET_MARK = const(0x05E7AB1E)


def _step_train():
    # Takes n from the TX FIFO, drives the STEP pin high 16 cycles / low 16 cycles n times (n = 0: none), then pushes n
    # to the RX FIFO so the caller knows the train is complete. jmp(x_dec) tests x before decrementing, so entering at
    # "count" gives exactly n passes. The assembler replaces this module's globals while it runs: literals only.
    @rp2.asm_pio(set_init=rp2.PIO.OUT_LOW)
    def step_train():
        pull(block)  # noqa: F405
        mov(x, osr)  # noqa: F405
        jmp("count")  # noqa: F405
        label("pulse")  # noqa: F405
        set(pins, 1)[15]  # noqa: F405
        set(pins, 0)[14]  # noqa: F405
        label("count")  # noqa: F405
        jmp(x_dec, "pulse")  # noqa: F405
        mov(isr, osr)  # noqa: F405
        push(block)  # noqa: F405

    return step_train


class PioStepper(drivers.StepDir):
    """STEP pulses from a PIO state machine at a fixed rate; the CPU only hands over n and waits for the echo."""

    def __init__(
        self,
        make_sm,
        dir_pin,
        en_pin,
        sleep_us,
        sleep_ms,
        ticks_ms,
        max_steps_per_s,
        max_steps_per_call,
        dir_forward,
        dir_setup_us,
        en_setup_us,
    ):
        drivers.StepDir.__init__(
            self, dir_pin, en_pin, sleep_us, max_steps_per_s, max_steps_per_call, dir_forward, dir_setup_us, en_setup_us
        )
        self._make_sm = make_sm
        self._sleep_ms = sleep_ms
        self._ticks_ms = ticks_ms
        self._sm = make_sm()

    def _pulse(self, n):
        sm = self._sm
        sm.put(n)
        deadline = ticks_add(self._ticks_ms(), n * 1000 // self.max_steps_per_s + _WAIT_MARGIN_MS)
        while not sm.rx_fifo():
            if ticks_diff(deadline, self._ticks_ms()) < 0:
                raise OSError(_ETIMEDOUT)
            self._sleep_ms(1)
        if sm.get() != n:
            raise OSError(_EIO)

    def _abort(self):
        # Re-initialising stops the machine, clears both FIFOs and drives STEP low again (set_init).
        self._sm = self._make_sm()


def _reset_cause():
    raw = machine.reset_cause()
    mark = machine.mem32[_WDT_SCRATCH0]
    machine.mem32[_WDT_SCRATCH0] = 0
    if raw == machine.WDT_RESET and mark == _RESET_MARK:
        return RESET_SOFT
    return drivers.reset_cause_from(raw, machine.PWRON_RESET, machine.WDT_RESET, None)


def _reset():
    machine.mem32[_WDT_SCRATCH0] = _RESET_MARK
    machine.reset()


def _adc_reader(pin, vref_mv):
    adc = machine.ADC(machine.Pin(pin))
    read_u16 = adc.read_u16

    def read_mv():
        return read_u16() * vref_mv // 65535

    return read_mv


def _flag():
    return asyncio.ThreadSafeFlag()  # looked up when a button is wired: a port's asyncio may lack it otherwise


def build(config=None):
    """The Pico W hardware object; `config` (dict) overrides DEFAULT_PINS / DEFAULT_SETTINGS keys."""
    cfg = drivers.merge_config(DEFAULT_PINS, DEFAULT_SETTINGS, config, rules=PIN_RULES)
    Pin = machine.Pin
    en = Pin(cfg["en"], Pin.OUT, value=1)  # first: the driver stays off whatever fails below
    dir_pin = Pin(cfg["dir"], Pin.OUT, value=1 if cfg["dir_forward"] else 0)
    step_pin = Pin(cfg["step"], Pin.OUT, value=0)
    sps = drivers.int_setting(cfg, "max_steps_per_s", 100, 20000)  # PIO clock >= 2 kHz at the default 125 MHz
    sm_id = drivers.int_setting(cfg, "pio_sm", 0, 3)
    freq = sps * _PIO_CYCLES_PER_STEP
    program = _step_train()

    def make_sm():
        sm = rp2.StateMachine(sm_id, program, freq=freq, set_base=step_pin)
        sm.active(1)
        return sm

    stepper = PioStepper(
        make_sm,
        dir_pin,
        en,
        time.sleep_us,
        time.sleep_ms,
        time.ticks_ms,
        sps,
        drivers.int_setting(cfg, "max_steps_per_call", 1, 100000),
        cfg["dir_forward"],
        drivers.int_setting(cfg, "dir_setup_us", 1, 1000),
        drivers.int_setting(cfg, "en_setup_us", 1, 100000),
    )
    vref_mv = drivers.int_setting(cfg, "adc_vref_mv", 1000, 5000)
    samples = drivers.int_setting(cfg, "adc_samples", 1, 64)
    battery = drivers.AdcBattery(
        _adc_reader(cfg["battery_adc"], vref_mv),
        drivers.int_setting(cfg, "battery_div_num", 1, 1000),
        drivers.int_setting(cfg, "battery_div_den", 1, 1000),
        samples,
    )
    pressure = None
    if cfg["pressure_adc"] is not None:
        pressure = drivers.AdcPressure(
            _adc_reader(cfg["pressure_adc"], vref_mv),
            drivers.int_setting(cfg, "pressure_offset_mv", 0, 5000),
            drivers.int_setting(cfg, "pressure_span_mv", 1, 5000),
            drivers.int_setting(cfg, "pressure_span_kpa_x10", 1, 100000),
            samples,
        )
    buzzer, led, stall, encoder = drivers.io_roles(Pin, lambda pin: machine.PWM(pin, freq=1000, duty_u16=0), cfg)
    ble, bluetooth, ble_note = links.radio(cfg["ble"])
    return drivers.Hardware(
        NAME,
        binascii.hexlify(machine.unique_id()).decode(),
        drivers.Clock(time.ticks_ms, asyncio.sleep_ms),
        drivers.Rtc(machine.RTC()),
        stepper,
        drivers.FileStorage(os, "/data"),
        battery,
        pressure,
        drivers.Watchdog(lambda ms: machine.WDT(timeout=ms), 1, _WDT_MAX_MS),
        _reset_cause(),
        _reset,
        buzzer=buzzer,
        led=led,
        stall=stall,
        encoder=encoder,
        ble=ble,
        bluetooth=bluetooth,
        urandom=os.urandom,
        aes=links.aes() if ble is not None else None,
        keys_path="keys.json",
        ble_note=ble_note,
        console=links.console_input(sys.stdin, asyncio, select),
        button=links.button_role(Pin, _flag, cfg),
    )
