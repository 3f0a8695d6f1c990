"""ESP32-DevKitC: pin map, timed-pin step pulses, and the hardware object built from machine."""

import asyncio
import binascii
import os
import select
import sys
import time

import machine

from board import drivers, links
from pump.compat import const

NAME = "esp32_devkit"

# GPIO numbers. None of them is a strapping pin (0, 2, 5, 12, 15), a flash pin (6..11), a PSRAM pin on WROVER modules
# (16, 17) or the REPL UART (1, 3); analog inputs are ADC1 only (ADC2 is unusable while the radio runs).
# boot.py reads "en" from here.
DEFAULT_PINS = {
    "step": 18,
    "dir": 19,
    "en": 23,  # active low; needs an external pull-up so the driver stays off until boot.py runs
    "battery_adc": 34,  # ADC1 channel 6, input only, external divider
    "pressure_adc": None,  # 35 (ADC1 channel 7, input only) when an analog pressure sensor is fitted
    "buzzer": 25,  # LEDC PWM
    "led": 4,
    "stall_diag": None,  # 27 when a TMC2209 DIAG output is wired (rising edge = StallGuard stall or driver error)
    "encoder": None,  # 26 when an optical encoder on the mechanism is wired (open collector, internal pull-up)
    "bolus_button": None,  # 33 when a patient bolus button is wired (a switch to GND, internal pull-up)
    "i2c_sda": 21,  # reserved for a digital pressure sensor
    "i2c_scl": 22,
}

# What config.json's "hw" may do with the pins (board.drivers.check_pins; tools.boardconfig reads it from this source):
# the ESP32's GPIOs, less the strapping pins, the flash, the PSRAM of WROVER modules and the REPL UART; analog inputs
# on ADC1 only (32-39: ADC2 is unusable while Wi-Fi/BLE runs); 34-39 are input only; EN is fixed: boot.py drives it.
PIN_RULES = {
    "gpio": tuple(range(20)) + (21, 22, 23, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39),
    "reserved": {0: "boot strapping pin", 2: "boot strapping pin", 5: "boot strapping pin",
                 12: "boot strapping pin (flash voltage)", 15: "boot strapping pin", 1: "REPL UART TX",
                 3: "REPL UART RX", 6: "SPI flash", 7: "SPI flash", 8: "SPI flash", 9: "SPI flash", 10: "SPI flash",
                 11: "SPI flash", 16: "PSRAM on WROVER modules", 17: "PSRAM on WROVER modules"},
    "adc": (32, 33, 34, 35, 36, 37, 38, 39),
    "input_only": (34, 35, 36, 37, 38, 39),
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
    "adc_samples": 4,
    "battery_div_num": 2,  # 100k/100k divider: battery = 2 x pin (keep the pin below ~2.4 V at 11 dB)
    "battery_div_den": 1,
    "pressure_offset_mv": 330,  # sensor output at 0 kPa
    "pressure_span_mv": 2000,  # output change over the span below
    "pressure_span_kpa_x10": 1000,
}

_WDT_MIN_MS = const(1000)  # older ports round the timeout down to whole seconds
_WDT_MAX_MS = const(60000)


class PinStepper(drivers.StepDir):
    """STEP pulses timed by sleep_us on a plain output pin.

    Each pulse is high for half the step period and low for the rest; interrupts and the loop itself can only
    lengthen those waits, so the rate never exceeds max_steps_per_s and the count is exact.
    """

    def __init__(
        self,
        step_pin,
        dir_pin,
        en_pin,
        sleep_us,
        max_steps_per_s,
        max_steps_per_call,
        dir_forward,
        dir_setup_us,
        en_setup_us,
    ):
        drivers.StepDir.__init__(
            self, dir_pin, en_pin, sleep_us, max_steps_per_s, max_steps_per_call, dir_forward, dir_setup_us, en_setup_us
        )
        self._step = step_pin.value
        self._step(0)
        period_us = 1000000 // max_steps_per_s
        self._high_us = period_us // 2
        self._low_us = period_us - period_us // 2

    def _pulse(self, n):
        step = self._step
        sleep_us = self._sleep_us
        high_us = self._high_us
        low_us = self._low_us
        for _ in range(n):
            step(1)
            sleep_us(high_us)
            step(0)
            sleep_us(low_us)

    def _abort(self):
        self._step(0)


def _reset_cause():
    return drivers.reset_cause_from(
        machine.reset_cause(), machine.PWRON_RESET, machine.WDT_RESET, getattr(machine, "SOFT_RESET", None)
    )


def _adc_reader(pin):
    adc = machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)
    read_uv = adc.read_uv  # calibrated by the chip's eFuse data, unlike read_u16

    def read_mv():
        return read_uv() // 1000

    return read_mv


def _flag():
    return asyncio.ThreadSafeFlag()  # looked up when a button is wired: a port's asyncio may lack it otherwise


def build(config=None):
    """The ESP32-DevKitC hardware object; `config` (dict) overrides DEFAULT_PINS / DEFAULT_SETTINGS keys."""
    cfg = drivers.merge_config(DEFAULT_PINS, DEFAULT_SETTINGS, config, rules=PIN_RULES)
    Pin = machine.Pin
    en = Pin(cfg["en"], Pin.OUT, value=1)  # first: the driver stays off whatever fails below
    dir_pin = Pin(cfg["dir"], Pin.OUT, value=1 if cfg["dir_forward"] else 0)
    step_pin = Pin(cfg["step"], Pin.OUT, value=0)
    stepper = PinStepper(
        step_pin,
        dir_pin,
        en,
        time.sleep_us,
        drivers.int_setting(cfg, "max_steps_per_s", 1, 5000),
        drivers.int_setting(cfg, "max_steps_per_call", 1, 100000),
        cfg["dir_forward"],
        drivers.int_setting(cfg, "dir_setup_us", 1, 1000),
        drivers.int_setting(cfg, "en_setup_us", 1, 100000),
    )
    samples = drivers.int_setting(cfg, "adc_samples", 1, 64)
    battery = drivers.AdcBattery(
        _adc_reader(cfg["battery_adc"]),
        drivers.int_setting(cfg, "battery_div_num", 1, 1000),
        drivers.int_setting(cfg, "battery_div_den", 1, 1000),
        samples,
    )
    pressure = None
    if cfg["pressure_adc"] is not None:
        pressure = drivers.AdcPressure(
            _adc_reader(cfg["pressure_adc"]),
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
        drivers.Rtc(machine.RTC(), subsec_us=True),
        stepper,
        drivers.FileStorage(os, "/data"),
        battery,
        pressure,
        drivers.Watchdog(lambda ms: machine.WDT(timeout=ms), _WDT_MIN_MS, _WDT_MAX_MS),
        _reset_cause(),
        machine.reset,
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
