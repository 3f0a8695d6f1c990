"""Stream a board's console (status lines, alarms, faults) with host timestamps; read-only, never interrupts it.

    python -m tools.deploy.logs [--port auto|/dev/ttyACM0] [--out out/console.log] [--lines N] [--seconds S]
                                                                               (or `make logs PORT=...`)

Unlike `make repl`, nothing is sent to the board: no Ctrl-C reaches the running firmware. Ctrl-C here stops the
stream. --out appends the same lines to a file.
"""

import argparse
import sys
import time

# USB vendor ids of the boards' serial ports: Raspberry Pi (RP2040 USB CDC), Espressif, and the USB-UART bridges
# found on ESP32 DevKitC boards (Silicon Labs CP210x, WCH CH340, FTDI)
BOARD_VIDS = (0x2E8A, 0x303A, 0x10C4, 0x1A86, 0x0403)


class LogsError(Exception):
    pass


def find_port(comports):
    """The first port of a known board vendor, else the first USB port; LogsError if there is none."""
    usb = [p for p in sorted(comports, key=lambda p: p.device) if p.vid is not None]
    for p in usb:
        if p.vid in BOARD_VIDS:
            return p.device
    if usb:
        return usb[0].device
    raise LogsError("no USB serial port found: is the board plugged in? (or give PORT=/dev/ttyACM0)")


def stream(ser, write, lines=None, seconds=None, clock=time.time):
    """Copy console lines from `ser` (readline() -> bytes) to write(text) with a timestamp; returns lines copied."""
    n = 0
    end = clock() + seconds if seconds else None
    partial = b""
    while (lines is None or n < lines) and (end is None or clock() < end):
        data = ser.readline()
        if not data:
            continue
        partial += data
        if not partial.endswith(b"\n"):
            continue
        text = partial.rstrip(b"\r\n").decode("utf-8", "replace")
        partial = b""
        t = clock()
        write("%s.%03d %s" % (time.strftime("%H:%M:%S", time.localtime(t)), int(t * 1000) % 1000, text))
        n += 1
    return n


def main(argv=None, say=print):
    ap = argparse.ArgumentParser(prog="python -m tools.deploy.logs", description=__doc__.split("\n")[0])
    ap.add_argument("--port", default="auto")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--out", help="also append the lines to this file")
    ap.add_argument("--lines", type=int, help="stop after this many lines")
    ap.add_argument("--seconds", type=float, help="stop after this many seconds")
    args = ap.parse_args(argv)
    import serial
    import serial.tools.list_ports

    try:
        from tools.deploy.ports import PortError, check_port

        port = check_port(args.port)
        ser = serial.Serial(port, args.baud, timeout=0.5)
    except PortError as e:
        say("logs: %s" % e)
        return 2
    except (LogsError, serial.SerialException) as e:
        say("logs: %s" % e)
        return 1
    out = open(args.out, "a") if args.out else None

    def write(text):
        say(text)
        if out is not None:
            out.write(text + "\n")
            out.flush()

    say("logs: %s (Ctrl-C to stop)" % port)
    try:
        stream(ser, write, args.lines, args.seconds)
    except KeyboardInterrupt:
        pass
    except serial.SerialException as e:
        say("logs: %s: %s" % (port, e))
        return 1
    finally:
        ser.close()
        if out is not None:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
