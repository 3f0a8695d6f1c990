"""`python -m tools.deploy.ports PORT`: the serial port a board command needs, or one line saying it is not there
(exit code 2) before mpremote says "may be in use" of a port that does not exist. PORT `auto`: the first board found."""

import os
import sys

from tools.deploy.logs import LogsError, find_port

EXIT_NO_PORT = 2


class PortError(Exception):
    """No such serial port: the message names it and the ports there are."""


def _comports():
    import serial.tools.list_ports

    return list(serial.tools.list_ports.comports())


def check_port(port, comports=_comports):
    """The device path of `port` (`auto`: the first board found); PortError when there is none."""
    if port in ("auto", ""):
        try:
            return find_port(comports())
        except LogsError as e:
            raise PortError("PORT=auto: %s" % e) from e
    if not os.path.exists(port):
        found = [p.device for p in comports() if p.vid is not None]
        raise PortError("PORT=%s: no such serial port (is the board plugged in? serial ports here: %s)" % (
            port, ", ".join(found) or "none"))
    return port


def main(argv=None, say=print):
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_port(argv[0] if argv else "auto")
    except PortError as e:
        say(str(e))
        return EXIT_NO_PORT
    return 0


if __name__ == "__main__":
    sys.exit(main())
