"""Role drivers both boards share, on injected machine objects: step/dir, RTC, storage, ADC, alarm I/O, watchdog."""

from pump.calendar import civil_from_days, days_from_civil
from pump.compat import TICKS_MASK, const
from pump.errors import E_MALFORMED, E_RANGE, E_STORAGE, PumpError
from pump.units import as_int, json_text

from board import CONFIG_FILE, RESET_OTHER, RESET_POWER_ON, RESET_SOFT, RESET_WATCHDOG

_ENOENT = const(2)
_EEXIST = const(17)
_NAME_MAX = const(32)
_SATURDAY = const(5)  # 2000-01-01, in MicroPython's weekday numbering (Monday = 0)
_TONE_MAX_HZ = const(20000)
_HALF_DUTY = const(32768)


_HW = CONFIG_FILE + ": hw"  # where a board's overrides come from


def merge_config(pins, settings, config, where=_HW, rules=None):
    """A new dict: `pins` and `settings` with `config` (config.json's "hw") laid over them. A key neither knows is
    refused (typo guard); a setting is an integer, a pin an integer, a name or null (200.0 is 200); with the board's
    `rules` (PIN_RULES) the pins are checked too (check_pins). PumpError names `where` and the key."""
    merged = dict(pins)
    merged.update(settings)
    if config:
        for key in config:
            path = "%s.%s" % (where, key)
            if key not in merged:
                raise PumpError(E_MALFORMED, "%s: unknown key" % path)
            v = config[key]
            if key in settings:
                v = as_int(v, path)
            elif v is not None and type(v) is not str:
                v = as_int(v, path, "a pin number, a pin name or null")
            merged[key] = v
    if rules is not None:
        check_pins(merged, pins, rules, where)
    return merged


# roles that drive their pin (never on an input-only pin), and the analog ones (only on the board's ADC pins)
_OUTPUT_ROLES = ("step", "dir", "en", "buzzer", "led", "i2c_sda", "i2c_scl")
_ADC_ROLES = ("battery_adc", "pressure_adc")


def check_pins(cfg, pins, rules, where=_HW):
    """The pin rules of a board (its PIN_RULES: "gpio" the usable numbers, "reserved" {pin: why}, "adc" the analog
    inputs, "input_only", "fixed" the roles no config may move) over the merged config `cfg` of the roles in `pins`
    (DEFAULT_PINS): a GPIO the board lacks or reserves, an analog role off an ADC pin, an output on an input-only pin,
    a moved fixed role or a pin used twice is PumpError(E_RANGE) naming the key and what is allowed. The one check of
    tools.boardconfig, of deploy (through it) and of the board at boot (build(): the fail-safe names it)."""
    used = {}
    for key in pins:
        v = cfg[key]
        path = "%s.%s" % (where, key)
        if key in rules["fixed"] and v != pins[key]:
            raise PumpError(E_RANGE, "%s: %s: fixed at %s (boot.py disables the driver on it before config.json "
                                     "is read)" % (path, json_text(v), pins[key]))
        if v is None or type(v) is str:  # not fitted, or a pin the port names ("LED" on the wireless chip)
            continue
        if v in rules["reserved"]:
            raise PumpError(E_RANGE, "%s: %d: reserved on this board (%s)" % (path, v, rules["reserved"][v]))
        if v not in rules["gpio"]:
            raise PumpError(E_RANGE, "%s: %d: not a GPIO of this board: allowed %s" % (
                path, v, _ranges(g for g in rules["gpio"] if g not in rules["reserved"])))
        if key in _ADC_ROLES and v not in rules["adc"]:
            raise PumpError(E_RANGE, "%s: %d: not an ADC input usable with the radio on: allowed %s" % (
                path, v, _ranges(rules["adc"])))
        if key in _OUTPUT_ROLES and v in rules["input_only"]:
            raise PumpError(E_RANGE, "%s: %d: input only on this board, and %s drives its pin" % (path, v, key))
        if v in used:
            raise PumpError(E_RANGE, "%s: %d: also the pin of %s: each pin serves one role" % (path, v, used[v]))
        used[v] = key


def _ranges(numbers):
    """"0-22, 26-28" of a set of pin numbers (cold path: a refusal's text)."""
    out = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ", ".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in out)


def int_setting(cfg, key, lo, hi):
    """cfg[key] (an int after merge_config) in [lo, hi], else PumpError(E_RANGE) naming config.json's key."""
    v = cfg[key]
    if type(v) is not int or v < lo or v > hi:
        raise PumpError(E_RANGE, "%s.%s: must be %d..%d, got %s" % (_HW, key, lo, hi, json_text(v)))
    return v


def reset_cause_from(raw, pwron, wdt, soft):
    """Map a port's machine.reset_cause() value onto board.RESET_*; `soft` may be None where the port has none."""
    if raw == pwron:
        return RESET_POWER_ON
    if raw == wdt:
        return RESET_WATCHDOG
    if soft is not None and raw == soft:
        return RESET_SOFT
    return RESET_OTHER


# --- wall clock: seconds since 2000-01-01 UTC from the RTC tuple, whatever the port's time.time() epoch is -------


def weekday(days):
    """Weekday of the date `days` after 2000-01-01, Monday = 0 (machine.RTC's numbering)."""
    return (days + _SATURDAY) % 7


class Rtc:
    """hw.rtc on machine.RTC: (year, month, day, weekday, h, min, s, subseconds) <-> ms since 2000-01-01.

    `subsec_us`: the port's subseconds field counts microseconds (ESP32); otherwise it is ignored (RP2040 reports 0,
    so after a reset the calendar there may lag the true time by up to 1 s).
    """

    def __init__(self, rtc, subsec_us=False):
        self._rtc = rtc
        self._subsec_us = subsec_us

    def now_ms(self):
        t = self._rtc.datetime()
        s = days_from_civil(t[0], t[1], t[2]) * 86400 + t[4] * 3600 + t[5] * 60 + t[6]
        return s * 1000 + (t[7] // 1000 if self._subsec_us else 0)

    def set_ms(self, ms):
        if not isinstance(ms, int) or ms < 0:
            raise PumpError(E_RANGE, "ms")
        s = ms // 1000
        days = s // 86400
        rem = s - days * 86400
        y, m, d = civil_from_days(days)
        sub = (ms - s * 1000) * 1000 if self._subsec_us else 0
        self._rtc.datetime((y, m, d, weekday(days), rem // 3600, rem // 60 % 60, rem % 60, sub))


class Clock:
    """hw.clock: the board's ticks_ms (period 2**30 on the boards) and the scheduler's sleep_ms coroutine."""

    def __init__(self, ticks_ms, sleep_ms):
        self.ticks_ms = ticks_ms
        self.sleep_ms = sleep_ms


# --- stepper ------------------------------------------------------------------------------------------------------


class StepDir:
    """STEP/DIR/EN sequencing for A4988/DRV8825/TMC2209 in step-dir mode; subclasses generate the pulses.

    EN is active low and held high (driver off, no coil current) except inside a call. Every call sets DIR first,
    waits the DIR setup time, enables, emits exactly n pulses at no more than max_steps_per_s, and disables again,
    also when pulse generation fails.
    """

    def __init__(
        self, dir_pin, en_pin, sleep_us, max_steps_per_s, max_steps_per_call, dir_forward, dir_setup_us, en_setup_us
    ):
        self._en = en_pin.value
        self._en(1)
        self._dir = dir_pin.value
        self._sleep_us = sleep_us
        self._fwd = 1 if dir_forward else 0
        self._dir_setup_us = dir_setup_us
        self._en_setup_us = en_setup_us
        self.max_steps_per_s = max_steps_per_s
        self.max_steps_per_call = max_steps_per_call

    def step_forward(self, n=1):
        """n steps in the dosing direction (DIR is set to forward on every call)."""
        self._move(n, self._fwd)

    def step_reverse(self, n):
        """n steps backwards: only for the occlusion back-off."""
        self._move(n, 1 - self._fwd)

    def disable(self):
        """Safe state: driver off, pulse generation stopped. Never raises."""
        try:
            self._en(1)
        except Exception:  # noqa: BLE001 - never raises: the pulse generation is stopped below all the same
            pass
        try:
            self._abort()
        except Exception:  # noqa: BLE001 - never raises: this is the safe state
            pass

    def _move(self, n, dir_level):
        if not isinstance(n, int) or n < 0 or n > self.max_steps_per_call:
            raise PumpError(E_RANGE, "n")
        if n == 0:
            return
        self._dir(dir_level)
        self._sleep_us(self._dir_setup_us)
        done = False
        try:
            self._en(0)
            self._sleep_us(self._en_setup_us)
            self._pulse(n)
            done = True
        finally:
            if done:
                self._en(1)
            else:
                self.disable()

    def _pulse(self, n):  # exactly n STEP pulses, returning once the last one is complete
        raise NotImplementedError

    def _abort(self):  # stop any pulse train and leave STEP low
        pass


# --- storage ------------------------------------------------------------------------------------------------------


class FileStorage:
    """hw.storage: named blobs as files in one flash directory (created on first use)."""

    def __init__(self, os_module, root="/data"):
        self._os = os_module
        self._root = root
        self._ready = False

    def _path(self, name):
        if not isinstance(name, str) or not name or len(name) > _NAME_MAX or "/" in name or name[0] == ".":
            raise PumpError(E_MALFORMED, "name")
        if not self._ready:
            try:
                self._os.mkdir(self._root)
            except OSError as e:
                if e.args[0] != _EEXIST:
                    raise PumpError(E_STORAGE, self._root)
            self._ready = True
        return self._root + "/" + name

    def read(self, name):
        """The blob's bytes, or None when there is none."""
        path = self._path(name)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            if e.args[0] == _ENOENT:
                return None
            raise PumpError(E_STORAGE, name)

    def write(self, name, data):
        """Replace the blob with `data`."""
        self._put(name, data, "wb")

    def append(self, name, data):
        """Add `data` to the end of the blob (creating it)."""
        self._put(name, data, "ab")

    def remove(self, name):
        """Delete the blob; a missing one is not an error."""
        path = self._path(name)
        try:
            self._os.remove(path)
        except OSError as e:
            if e.args[0] != _ENOENT:
                raise PumpError(E_STORAGE, name)

    def _put(self, name, data, mode):
        path = self._path(name)
        try:
            with open(path, mode) as f:
                f.write(data)
        except OSError:
            raise PumpError(E_STORAGE, name)


# --- analog -------------------------------------------------------------------------------------------------------


def mean_mv(read_mv, samples):
    """Average of `samples` readings of read_mv(), in integer mV."""
    total = 0
    for _ in range(samples):
        total += read_mv()
    return total // samples


class AdcBattery:
    """hw.battery: ADC behind a resistor divider; mV at the battery = mV at the pin * div_num // div_den."""

    def __init__(self, read_mv, div_num, div_den, samples):
        self._read_mv = read_mv
        self._num = div_num
        self._den = div_den
        self._samples = samples

    def read_mv(self):
        return mean_mv(self._read_mv, self._samples) * self._num // self._den


class AdcPressure:
    """hw.pressure from an analog sensor: 0.1 kPa units = (mV - offset_mv) * span_kpa_x10 // span_mv.

    Not clamped: a reading far below zero is a sensor fault the checks must see.
    """

    def __init__(self, read_mv, offset_mv, span_mv, span_kpa_x10, samples):
        self._read_mv = read_mv
        self._offset_mv = offset_mv
        self._span_mv = span_mv
        self._span_kpa_x10 = span_kpa_x10
        self._samples = samples

    def read_kpa_x10(self):
        mv = mean_mv(self._read_mv, self._samples)
        return (mv - self._offset_mv) * self._span_kpa_x10 // self._span_mv


# --- annunciation and mechanism sensing --------------------------------------------------------------------------


class PwmBuzzer:
    """hw.buzzer: a buzzer on a PWM pin, square wave at 50 % duty.

    `make_pwm()` builds the PWM object (silent: duty 0) on the first tone, so the pin is not touched at boot; a short
    boot beep is the alarm system's self-test and makes a broken PWM set-up fail early.
    """

    def __init__(self, make_pwm):
        self._make_pwm = make_pwm
        self._pwm = None
        self.freq_hz = 0  # sounding frequency, 0 when silent

    def tone(self, freq_hz):
        """Sound at freq_hz (1..20000); 0 is off()."""
        if not isinstance(freq_hz, int) or freq_hz < 0 or freq_hz > _TONE_MAX_HZ:
            raise PumpError(E_RANGE, "freq_hz")
        if freq_hz == 0:
            self.off()
            return
        pwm = self._pwm
        if pwm is None:
            pwm = self._pwm = self._make_pwm()
        pwm.freq(freq_hz)
        pwm.duty_u16(_HALF_DUTY)
        self.freq_hz = freq_hz

    def off(self):
        """Silent. Never raises."""
        self.freq_hz = 0
        pwm = self._pwm
        if pwm is not None:
            try:
                pwm.duty_u16(0)
            except Exception:  # noqa: BLE001 - never raises: silencing is part of the safe state
                pass


class PinLed:
    """hw.led: one indicator LED on an output pin, active high."""

    def __init__(self, pin):
        self._value = pin.value
        self._value(0)
        self.lit = False

    def on(self):
        self._value(1)
        self.lit = True

    def off(self):
        self._value(0)
        self.lit = False


class IrqFlag:
    """hw.stall: a latched edge on an input, e.g. a TMC2209 DIAG output (high on a StallGuard stall or a driver
    error). The Pin IRQ handler only stores an int; `triggered()` reads and clears it, and also reports a pin that is
    high right now (a driver error holds DIAG high; a configured DIAG that came loose reads high through its pull-up
    rather than going silent)."""

    def __init__(self, pin, trigger):
        self._pin = pin
        self._flag = 0
        pin.irq(handler=self._irq, trigger=trigger)

    def _irq(self, _pin):
        self._flag = 1

    def triggered(self):
        """True if an edge came since the last call or the input is high now; clears the latch."""
        f = self._flag
        self._flag = 0
        return f != 0 or self._pin.value() == 1


class EdgeCounter:
    """hw.encoder: edges of an optical encoder counted by a hard Pin IRQ (an int increment, no allocation), and the
    counts one motor step should give (`counts_per_step`, the board's `encoder_counts_per_step`) for the stall check.

    count() wraps at 2**30 like ticks: counts between two readings are (b - a) & TICKS_MASK.
    """

    def __init__(self, pin, trigger, counts_per_step):
        self._count = 0
        self.counts_per_step = counts_per_step
        pin.irq(handler=self._irq, trigger=trigger, hard=True)

    def _irq(self, _pin):
        self._count = (self._count + 1) & TICKS_MASK

    def count(self):
        return self._count


def io_roles(Pin, make_pwm, cfg):
    """(buzzer, led, stall, encoder) from the pins cfg names; a role whose pin is None is None.

    `make_pwm(pin)` builds a silent PWM on a Pin (called on the buzzer's first tone). DIAG and the encoder are inputs
    with the internal pull-up; the encoder counts both edges (2 counts per slot of its disc), and a step should give
    `encoder_counts_per_step` of them.
    """
    buzzer = led = stall = encoder = None
    pin_id = cfg["buzzer"]
    if pin_id is not None:
        buzzer = PwmBuzzer(lambda: make_pwm(Pin(pin_id, Pin.OUT, value=0)))
    if cfg["led"] is not None:
        led = PinLed(Pin(cfg["led"], Pin.OUT, value=0))
    if cfg["stall_diag"] is not None:
        stall = IrqFlag(Pin(cfg["stall_diag"], Pin.IN, Pin.PULL_UP), Pin.IRQ_RISING)
    if cfg["encoder"] is not None:
        encoder = EdgeCounter(Pin(cfg["encoder"], Pin.IN, Pin.PULL_UP), Pin.IRQ_RISING | Pin.IRQ_FALLING,
                              int_setting(cfg, "encoder_counts_per_step", 1, 1000))
    return buzzer, led, stall, encoder


# --- watchdog, hardware object ------------------------------------------------------------------------------------


class Watchdog:
    """hw.watchdog: the hardware watchdog is created by start(timeout_ms), not before; once started it cannot stop.

    feed() before start() does nothing. start() again re-arms it with the new timeout (both ports allow that).
    """

    def __init__(self, make_wdt, min_timeout_ms, max_timeout_ms):
        self._make_wdt = make_wdt
        self._min_timeout_ms = min_timeout_ms
        self._max_timeout_ms = max_timeout_ms
        self._wdt = None
        self.timeout_ms = 0

    def start(self, timeout_ms):
        if not isinstance(timeout_ms, int) or timeout_ms < self._min_timeout_ms or timeout_ms > self._max_timeout_ms:
            raise PumpError(E_RANGE, "timeout_ms")
        self._wdt = self._make_wdt(timeout_ms)
        self.timeout_ms = timeout_ms

    def feed(self):
        wdt = self._wdt
        if wdt is not None:
            wdt.feed()


class Hardware:
    """The hardware object a board builds: one attribute per role (docs/roles.md); a missing role is None."""

    def __init__(  # noqa: PLR0913, PLR0917 - one argument per role
        self,
        name,
        uid_hex,
        clock,
        rtc,
        stepper,
        storage,
        battery,
        pressure,
        watchdog,
        reset_cause,
        reset_fn,
        buzzer=None,
        led=None,
        stall=None,
        encoder=None,
        ble=None,
        bluetooth=None,
        urandom=None,
        aes=None,
        keys_path=None,
        ble_note=None,
        console=None,
        button=None,
    ):
        self.ble = ble  # bluetooth.BLE() of the board, or None
        self.ble_note = ble_note  # why there is no radio (links.radio), said once on the console by the app
        self.console = console  # ConsoleInput: the wired programming path, or None
        self.button = button  # Button: the patient's bolus button, or None
        self.bluetooth = bluetooth  # the module it came from (UUID; the service uses its own flag constants)
        self.urandom = urandom  # urandom(n) -> n random bytes (session nonces, pairing passkeys)
        self.aes = aes  # aes(key16) -> an AES-128 ECB encryptor (cryptolib.aes(key, 1)): the secure session's cipher
        self.keys_path = keys_path  # BLE command keys file (keys.json), None: commands refused
        self.buzzer = buzzer
        self.led = led
        self.stall = stall
        self.encoder = encoder
        self.name = name
        self.uid_hex = uid_hex
        self.clock = clock
        self.rtc = rtc
        self.stepper = stepper
        self.storage = storage
        self.battery = battery
        self.pressure = pressure
        self.watchdog = watchdog
        self.reset_cause = reset_cause
        self._reset_fn = reset_fn

    def reset(self):
        """Hard reset, with the motor driver disabled first."""
        if self.stepper is not None:
            self.stepper.disable()
        self._reset_fn()
