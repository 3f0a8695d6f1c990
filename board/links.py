"""The board's links to the people and hosts around the pump, on injected machine objects: the serial console's input
(the wired programming path), the BLE radio when the board has one, the patient's bolus button."""

from pump.compat import TICKS_MASK


class ConsoleInput:
    """hw.console: bytes the host writes to the board's serial console (the REPL's stdin, USB CDC on the Pico) while
    the app runs, for the wired programming path (pump.wired). `reader` is an asyncio.StreamReader on `stream`
    (sys.stdin.buffer), `poller` a select.poll with `stream` registered. Ctrl-C still interrupts the app: the port
    takes that byte out of the stream before it gets here."""

    def __init__(self, stream, reader, poller):
        self._stream = stream
        self._reader = reader
        self._poller = poller
        self._one = bytearray(1)

    async def readinto(self, buf):
        """Wait for a byte, then take what else has arrived (without a scheduler round for each); returns the count."""
        one = self._one
        await self._reader.readinto(one)
        buf[0] = one[0]
        n = 1
        while n < len(buf) and self._ready():
            self._stream.readinto(one)
            buf[n] = one[0]
            n += 1
        return n

    def _ready(self):
        for _ in self._poller.ipoll(0):
            return True
        return False


def console_input(stdin, asyncio, select):
    """The ConsoleInput of a board's stdin (its `buffer`, raw bytes)."""
    stream = stdin.buffer
    poller = select.poll()
    poller.register(stream, select.POLLIN)
    return ConsoleInput(stream, asyncio.StreamReader(stream), poller)


def radio(enabled):
    """(ble, bluetooth module, note) of the board's `ble` setting: the radio only when it is on and the firmware has
    one. `bluetooth` is imported here, not at the top of a board module, so a board without it (a plain Pico, a
    firmware built without BLE) boots and doses with status on the console; `note` says why there is no radio."""
    if not enabled:
        return None, None, "BLE off (config.json hw.ble is 0)"
    try:
        import bluetooth
    except ImportError:
        return None, None, "no BLE on this board (its MicroPython has no bluetooth module)"
    try:
        return bluetooth.BLE(), bluetooth, None
    except Exception as e:  # noqa: BLE001 - a radio that cannot start must not stop the pump
        return None, None, "BLE unavailable (%r)" % (e,)


def aes():
    """The `aes` role: aes(key16) -> cryptolib.aes(key16, 1), AES-128 in ECB mode (stock rp2 and esp32 builds have
    it; CTR is built on it in pump.aesctr). None without cryptolib: the BLE service then does not start."""
    try:
        import cryptolib
    except ImportError:
        return None

    def ecb(key):
        return cryptolib.aes(key, 1)

    return ecb


class Button:
    """hw.button: the patient's bolus button, a switch to GND on an input with the internal pull-up (pressed reads 0).
    A Pin IRQ on either edge counts the edge and sets `flag` (an asyncio.ThreadSafeFlag the app waits on); the app
    debounces (pump.button)."""

    def __init__(self, pin, flag, trigger):
        self._value = pin.value
        self.flag = flag
        self.edges = 0  # wraps at 2**30 like ticks
        pin.irq(handler=self._irq, trigger=trigger)

    def _irq(self, _pin):
        self.edges = (self.edges + 1) & TICKS_MASK
        self.flag.set()

    def pressed(self):
        return self._value() == 0


def button_role(Pin, make_flag, cfg):
    """The Button on cfg's `bolus_button` pin, or None when none is wired."""
    if cfg["bolus_button"] is None:
        return None
    return Button(Pin(cfg["bolus_button"], Pin.IN, Pin.PULL_UP), make_flag(), Pin.IRQ_RISING | Pin.IRQ_FALLING)
