"""tools.deploy: refusals before the board is touched, the command list, verification; then a real mpremote run
against a fake board (pty raw REPL, unix-port MicroPython in a local folder)."""

import hashlib
import json
import os
import time

import pytest

from support.mpy_board import FakeBoard
from pump import VERSION
from tools.boardconfig import boardconfig
from tools.deploy import deploy
from tools.keys import keys
from support import ROOT

MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")


class GoodBoard:
    """The mpremote seam of a board that does what it is told: records the commands, answers the verify step."""

    def __init__(self, version=VERSION, key_bytes=None, fail_on=None):
        self.port = "/dev/ttyFAKE"
        self.cmds = []
        self.version = version
        self.key_bytes = key_bytes
        self.config = None
        self.fail_on = fail_on

    def run(self, args):
        self.cmds.append(args)
        if self.fail_on and args[0] == self.fail_on:
            raise deploy.DeployError("mpremote %s: exit code 1: no device found" % args[0])
        if args[:2] == ["fs", "cp"] and args[-1] == ":keys.json" and self.key_bytes is None:
            with open(args[-2], "rb") as f:
                self.key_bytes = f.read()
        if args[:2] == ["fs", "cp"] and args[-1] == ":config.json":
            with open(args[-2]) as f:
                self.config = json.load(f)
        if args[0] == "exec" and args[1].startswith("import pump, board"):
            return "version %s\nconfig %s\n" % (self.version, self.config["pump"].get("nl_per_step", "default"))
        if args[:2] == ["fs", "sha256sum"]:
            return "sha256sum :keys.json\n%s\n" % hashlib.sha256(self.key_bytes).hexdigest()
        return ""


@pytest.fixture
def bench(tmp_path):
    """(keys path, config path, build folder) in a scratch folder; keys made, no config yet."""
    k = str(tmp_path / "keys.json")
    keys.create(k)
    return k, str(tmp_path / "config.json"), str(tmp_path / "build")


def _deploy(bench, board="pico_w", fake=None, extra=()):
    k, c, out = bench
    fake = fake or GoodBoard()
    lines = []
    code = deploy.main(["--board", board, "--keys", k, "--config", c, "--out", out] + list(extra), runner=fake,
                       say=lines.append)
    return code, fake, lines


@pytest.mark.parametrize("board", ["all", "sim", "pico", ""])
def test_a_wrong_board_is_refused_before_anything_runs(bench, board):
    code, fake, lines = _deploy(bench, board)
    assert code == 2 and fake.cmds == []
    assert lines[-1] == "deploy: BOARD=%s: deploy needs one board: esp32_devkit or pico_w" % board


def test_no_keys_or_readable_keys_are_refused_before_anything_runs(bench, tmp_path):
    k, c, out = bench
    os.chmod(k, 0o644)
    code, fake, lines = _deploy(bench)
    assert code == 2 and fake.cmds == [] and "readable by others" in lines[-1]
    os.remove(k)
    code, fake, lines = _deploy(bench)
    assert code == 2 and fake.cmds == [] and "no such file (run `make keys`" in lines[-1]


def test_a_config_for_another_board_is_refused(bench):
    boardconfig.save(bench[1], boardconfig.new_config("esp32_devkit"))
    code, fake, lines = _deploy(bench, "pico_w")
    assert code == 2 and fake.cmds == []
    assert "config.json: board: 'esp32_devkit', but this board is pico_w" in lines[-1]


def _tree(folder):
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, folder).replace(os.sep, "/")] = path
    return out


def test_the_commands_copy_every_built_file_once_then_verify_and_reset(bench):
    doc = boardconfig.new_config("esp32_devkit")
    doc["hw"]["buzzer"] = 27  # (EN is fixed: boot.py drives it before config.json is read)
    doc["pump"]["nl_per_step"] = 188
    boardconfig.save(bench[1], doc)
    code, fake, lines = _deploy(bench, "esp32_devkit")
    assert code == 0, lines
    cmds = fake.cmds
    # 1: watchdog re-armed for 2 h (the ESP32's cannot stop), driver off at the configured EN pin, old firmware
    # removed, the pump's data/ kept
    assert cmds[0][0] == "exec" and cmds[0][1].startswith("import machine\nmachine.WDT(timeout=7200000)\n")
    assert "machine.Pin(23, machine.Pin.OUT, value=1)" in cmds[0][1]
    assert "'lib/pump', 'board'" in cmds[0][1] and "data" not in cmds[0][1]
    # 2: every file of build/esp32_devkit copied exactly once, to its own folder, main.py last
    built = _tree(os.path.join(bench[2], "esp32_devkit"))
    copied = {}
    for c in cmds:
        if c[:3] == ["fs", "cp", "-f"] and c[-1] not in (":config.json", ":keys.json"):
            for local in c[3:-1]:
                dest = c[-1][1:]
                remote = dest + os.path.basename(local) if dest.endswith("/") else dest
                copied[remote[2:] if remote.startswith("./") else remote] = local
    assert copied == built
    assert "board/esp32_devkit.mpy" in copied and "board/pico_w.mpy" not in copied
    firmware = [c for c in cmds if c[:2] == ["fs", "cp"]]
    assert firmware[-3] == ["fs", "cp", "-f", built["main.py"], ":main.py"]
    # 3: config and keys under their own names; the keys file by path only, never its contents
    assert fake.config == doc
    assert firmware[-1] == ["fs", "cp", "-f", bench[0], ":keys.json"]
    secret = json.load(open(bench[0]))
    for text in [json.dumps(cmds)] + lines:
        assert secret["clinician"] not in text and secret["patient"] not in text
    # 4, 5: verify, then a hard reset
    assert cmds[-3][0] == "exec"
    assert "board.parse_config(board.read_config('config.json'), 'esp32_devkit')" in cmds[-3][1]
    assert cmds[-2] == ["fs", "sha256sum", ":keys.json"] and cmds[-1] == ["reset"]
    assert lines[-1].startswith("deployed pump %s to esp32_devkit" % VERSION)


def test_without_a_config_the_board_gets_the_defaults_and_a_note(bench):
    code, fake, lines = _deploy(bench)
    assert code == 0
    assert fake.config == {"format": 1, "board": "pico_w", "hw": {}, "pump": {}}
    assert any(line.startswith("note: no ") and "uncalibrated" in line for line in lines)


@pytest.mark.parametrize("fake, message", [
    (GoodBoard(version="0.0.9"), "verify: the board reports firmware '0.0.9', expected '%s'" % VERSION),
    (GoodBoard(key_bytes=b"{}"), "verify: keys.json on the board differs from"),
    (GoodBoard(fail_on="fs"), "mpremote fs: exit code 1: no device found"),
])
def test_a_failed_step_or_verification_exits_1(bench, fake, message):
    code, fake, lines = _deploy(bench, fake=fake)
    assert code == 1 and message in lines[-1]
    assert ["reset"] not in fake.cmds  # a board that failed verification is not restarted into that firmware


def test_dry_run_prints_the_commands_and_runs_none(bench):
    code, fake, lines = _deploy(bench, extra=["--dry-run"])
    assert code == 0 and fake.cmds == []
    text = "\n".join(lines)
    assert "mpremote connect /dev/ttyFAKE exec <<\n    import machine\n    machine.mem32[0x40058000] &=" in text
    assert "mpremote connect /dev/ttyFAKE fs cp -f %s :keys.json" % bench[0] in text
    assert text.rstrip().endswith("mpremote connect /dev/ttyFAKE reset")


def test_maintenance_stops_the_watchdog_and_the_driver_then_opens_a_repl(bench):
    fake = GoodBoard()
    calls = []
    fake.interactive = lambda args: calls.append(args) or 0
    lines = []
    code = deploy.main(["--board", "pico_w", "--config", bench[1], "--maintenance"], runner=fake, say=lines.append)
    assert code == 0 and fake.cmds == []  # no build, no copy
    assert calls == [["exec", "import machine\nmachine.mem32[0x40058000] &= ~0x40000000\n"
                               "machine.Pin(4, machine.Pin.OUT, value=1)\n", "repl"]]
    assert "a reset starts it again" in lines[-1]
    code = deploy.main(["--board", "all", "--maintenance"], runner=fake, say=lines.append)
    assert code == 2 and len(calls) == 1


# ---- the real mpremote against a fake board -------------------------------------------------------------------


def test_deploy_through_mpremote_to_a_board_folder(bench, tmp_path):
    root = tmp_path / "board"
    (root / "data").mkdir(parents=True)
    (root / "data" / "prog.a").write_bytes(b"program")  # the pump's store survives a deployment
    (root / "lib" / "pump").mkdir(parents=True)
    (root / "lib" / "pump" / "removed.mpy").write_bytes(b"old")  # a module no longer in the firmware goes
    (root / "emuhook.py").write_bytes(b"raise SystemExit")  # so does the emulator suite's test hook
    doc = boardconfig.new_config("pico_w")
    doc["pump"]["nl_per_step"] = 193
    boardconfig.save(bench[1], doc)
    board = FakeBoard(root, MICROPYTHON)
    try:
        lines = []
        code = deploy.main(["--board", "pico_w", "--port", board.url, "--keys", bench[0], "--config", bench[1],
                            "--out", bench[2]], say=lines.append)
        assert code == 0, lines
        for _ in range(100):  # `mpremote reset` does not wait for the board
            if "reset" in board.events:
                break
            time.sleep(0.05)
        # the watchdog's enable bit cleared first (other bits kept), then the driver off; the reset comes last
        assert board.events == ["mem32 0x40058000 0x00000123", "pin 4 1", "reset"]
        verify_runs = [code for code in board.execs if code.startswith("import pump, board")]
    finally:
        board.close()
    on_board = _tree(root)
    built = _tree(os.path.join(bench[2], "pico_w"))
    assert set(on_board) == set(built) | {"config.json", "keys.json", "data/prog.a"}
    for name, path in built.items():
        assert open(on_board[name], "rb").read() == open(path, "rb").read(), name
    assert open(on_board["keys.json"], "rb").read() == open(bench[0], "rb").read()
    assert json.load(open(on_board["config.json"])) == doc
    assert open(on_board["data/prog.a"], "rb").read() == b"program"
    # verified by the board's own firmware (the .mpy files just copied): it reported VERSION and nl_per_step 193
    assert len(verify_runs) == 1 and lines[-1].startswith("deployed pump %s to pico_w" % VERSION)


def test_the_maintenance_code_runs_on_an_esp32_board(tmp_path):
    board = FakeBoard(tmp_path, MICROPYTHON)
    try:
        mp = deploy.Mpremote(board.url)
        mp.run(["exec", deploy.maintenance_code("esp32_devkit", 23)])
        assert board.events == ["wdt 7200000", "pin 23 1"]
    finally:
        board.close()


def test_the_emulator_suites_test_hook_is_removed_by_every_deployment():
    import board

    assert board.TEST_HOOK + ".py" in deploy.FIRMWARE_PATHS and board.TEST_HOOK + ".json" in deploy.FIRMWARE_PATHS
    assert not os.path.exists(os.path.join(deploy.ROOT, board.TEST_HOOK + ".py"))  # nothing of it to copy
