"""tools.deploy.logs: console lines from a serial port (a pty here) with timestamps, to the screen and a file."""

import os
import re
import threading
import time
import tty
import types

import pytest

from tools.deploy import logs


def test_lines_from_a_serial_port_are_stamped_and_written_to_a_file(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    shown = []

    def board():  # the board talks once the port is open (opening it drops what was waiting, as on a real port)
        while not shown:
            time.sleep(0.01)
        os.write(master, b"pump 0.1.0 on pico_w: no program\r\n2026-08-01 00:00 stopped rate ")
        time.sleep(0.1)  # a line split across reads
        os.write(master, b"0.0 uL/day\r\nfault: \xff broken\r\nnot yet a line")

    talker = threading.Thread(target=board, daemon=True)
    talker.start()
    try:
        out = tmp_path / "console.log"
        code = logs.main(["--port", name, "--lines", "3", "--seconds", "20", "--out", str(out)],
                         say=shown.append)
        assert code == 0
        talker.join(5)
    finally:
        os.close(master)
        os.close(slave)
    assert shown[0] == "logs: %s (Ctrl-C to stop)" % name
    stamp = r"\d\d:\d\d:\d\d\.\d\d\d "
    assert re.fullmatch(stamp + "pump 0.1.0 on pico_w: no program", shown[1])
    assert re.fullmatch(stamp + "2026-08-01 00:00 stopped rate 0.0 uL/day", shown[2])
    assert re.fullmatch(stamp + "fault: \ufffd broken", shown[3])
    assert out.read_text().splitlines() == shown[1:]


def test_a_missing_port_is_a_clear_error(tmp_path):
    shown = []
    assert logs.main(["--port", str(tmp_path / "ttyACM9")], say=shown.append) == 2  # bad input: exit code 2
    assert shown == ["logs: PORT=%s: no such serial port (is the board plugged in? serial ports here: none)" % (
        tmp_path / "ttyACM9")] or (shown[-1].startswith("logs: PORT=") and "no such serial port" in shown[-1])


def _port(device, vid):
    return types.SimpleNamespace(device=device, vid=vid)


def test_auto_port_prefers_a_board_vendor():
    ports = [_port("/dev/ttyS0", None), _port("/dev/ttyUSB0", 0x0BDA), _port("/dev/ttyACM1", 0x2E8A)]
    assert logs.find_port(ports) == "/dev/ttyACM1"
    assert logs.find_port(ports[:2]) == "/dev/ttyUSB0"
    with pytest.raises(logs.LogsError, match="no USB serial port found"):
        logs.find_port(ports[:1])
