"""The runner's edges: bad requests answered in one line naming the key, inputs found or explained, littlefs images
built and read on the host."""

import json
import os
import re
import subprocess

import pytest

from verify.emu import images, lfs
from verify.emu.emulator import Emulator, EmulatorError, EmulatorTimeout
from verify.emu.tests.conftest import require


def _runner(requests, node):
    """Answers of a fresh runner to raw request lines."""
    proc = subprocess.run([node, images.RUNNER], input="\n".join(requests) + "\n", capture_output=True, text=True,
                          cwd=images.ROOT, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_malformed_requests_get_one_line_errors_and_the_runner_goes_on(rp2_images):
    node = images.find_node()
    boot = {"cmd": "boot", "uf2": rp2_images.uf2, "bootrom": rp2_images.bootrom}
    answers = _runner([
        "not json",
        json.dumps({"cmd": "fly"}),
        json.dumps({"cmd": "run", "ms": 1}),
        json.dumps(dict(boot, uf2="/nonexistent.uf2")),
        json.dumps(dict(boot, uf2=rp2_images.bootrom)),
        json.dumps(dict(boot, bootrom=rp2_images.uf2)),
        json.dumps(dict(boot, erase_ms_per_sector=-1)),
        json.dumps(dict(boot, erase_ms=1)),
        json.dumps(boot),
        json.dumps({"cmd": "run", "ms": -5}),
        json.dumps({"cmd": "stats"}),
    ], node)
    errors = [a.get("error") for a in answers]
    assert errors[0].startswith("request: not JSON")
    assert errors[1].startswith("cmd: must be one of boot, run")
    assert errors[2] == 'run: no board yet: send "boot" first'
    assert errors[3] == "boot: uf2: cannot read /nonexistent.uf2: ENOENT"
    assert errors[4].startswith("boot: uf2: %s is not a UF2 file" % rp2_images.bootrom)
    assert errors[5].startswith("boot: bootrom: %s has " % rp2_images.uf2)
    assert errors[6] == "boot: erase_ms_per_sector: must be a number in 0..10000, got -1"
    assert errors[7] == ("boot: erase_ms: unknown key (allowed: uf2, bootrom, fs, fs_offset, erase_ms_per_sector, "
                         "program_ms_per_page)")
    assert answers[8]["ok"] and answers[8]["uf2_blocks"] > 1000
    assert errors[9] == "run: ms: must be a number in 0..1000000000, got -5"
    assert answers[10]["ok"] and answers[10]["t_ns"] == 0  # nothing ran: the bad requests changed nothing
    assert all("\n" not in e for e in errors if e)


def test_the_runner_refuses_arguments_with_exit_code_2():
    proc = subprocess.run([images.find_node(), images.RUNNER, "--fast"], capture_output=True, text=True,
                          cwd=images.ROOT, timeout=30, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("usage: node verify/emu/runner.mjs (no arguments")
    assert proc.stdout == ""


BAD_CALLS = [
    (lambda e: e.set_adc(5, 100), "adc: channel: must be an integer in 0..4, got 5"),
    (lambda e: e.set_adc(0, 4096), "adc: value: must be an integer in 0..4095, got 4096"),
    (lambda e: e.set_adc(0, 1.5), "adc: value: must be an integer in 0..4095, got 1.5"),
    (lambda e: e.set_pin(30, 1), "pin: pin: must be an integer in 0..29, got 30"),
    (lambda e: e.set_pin(3, 2), "pin: level: must be 0, 1 or null (released), got 2"),
    (lambda e: e.drive(3, [(0.0, 1)]), "drive: changes: times must be ascending and not before now"),
    (lambda e: e.drive(3, [(e.now_ms + 1, 5)]), "drive: changes[0] value: must be 0 or 1, got 5"),
    (lambda e: e.drive_adc(1, [(e.now_ms + 1, 5000)]), "drive_adc: changes[0] value: must be an integer in 0..4095"),
    (lambda e: e.drive_adc(7, [(e.now_ms + 1, 5)]), "drive_adc: channel: must be an integer in 0..4, got 7"),
    (lambda e: e.follow(7, 7), "follow: source: must differ from pin 7"),
    (lambda e: e.follow(7, 2, every=0), "follow: every: must be an integer in 1..1000000, got 0"),
    (lambda e: e.drive(3, [(e.now_ms + 2, 1), (e.now_ms + 1, 0)]), "drive: changes: times must be ascending"),
    (lambda e: e.watch([]), "watch: pins: must be a non-empty list of GPIO numbers 0..29"),
    (lambda e: e.edges([4]), "edges: pin 4 is not watched (watch it first)"),
    (lambda e: e.cut_power(0), "cut_power: after_ops: must be an integer in 1..1000000000, got 0"),
    (lambda e: e.cut_power(1, partial_bytes=-1), "cut_power: partial_bytes: must be an integer in 0..2097152"),
    (lambda e: e.uart_write(2, b"x"), "uart_write: uart: must be an integer in 0..1, got 2"),
]


def test_bad_requests_raise_one_line_naming_the_key_and_change_nothing(boot):
    emu = boot()
    emu.run(1)
    for call, message in BAD_CALLS:
        with pytest.raises(EmulatorError) as err:
            call(emu)
        assert str(err.value).startswith(message)
        assert "\n" not in str(err.value)
    assert emu.flash_ops()["armed"] is False
    assert emu.run(1).reason == "time"  # still answering, nothing queued by the refused requests
    assert emu.pin_state(3)["host"] is None


def test_python_side_arguments_are_checked_before_anything_is_sent(boot, rp2_images):
    with pytest.raises(ValueError, match=re.escape("files: 'a/../b'")):
        Emulator({"a/../b": b""}, image=rp2_images)
    with pytest.raises(EmulatorError, match="boot: erase_ms: unknown key"):
        Emulator(None, image=rp2_images, flash_timing={"erase_ms": 1})
    emu = boot()
    with pytest.raises(ValueError, match="high_ms must lie between 0 and period_ms"):
        emu.pulse_train(3, 10, count=2, period_ms=1, high_ms=1)
    with pytest.raises(ValueError, match="ms: must be a number of emulated ms >= 0, got -1"):
        emu.run(-1)
    with pytest.raises(EmulatorTimeout, match="not on the console within 50 emulated ms"):
        emu.expect(b"never printed", within_ms=50)


def test_a_missing_image_skips_with_how_to_get_it_and_fails_under_ci(tmp_path):
    environ = {images.DIR_ENV: str(tmp_path)}
    with pytest.raises(images.ImageMissing) as err:
        images.find_images(environ)
    line = str(err.value)
    assert "\n" not in line and images.UF2_NAME in line and images.DIR_ENV in line and "docs/emulator.md" in line
    with pytest.raises(pytest.skip.Exception, match=r"missing .*micropython-v1\.27\.0-RPI_PICO\.uf2 and "):
        require(images.find_images, environ)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require(images.find_images, dict(environ, CI="true"))
    with pytest.raises(pytest.skip.Exception):
        require(images.find_images, dict(environ, CI="false"))


def test_an_image_named_by_the_environment_is_used(tmp_path):
    for name in (images.UF2_NAME, images.BOOTROM_NAME, "other.uf2"):
        (tmp_path / name).write_bytes(b"x")
    found = images.find_images({images.DIR_ENV: str(tmp_path), images.UF2_ENV: str(tmp_path / "other.uf2")})
    assert (found.uf2, found.bootrom) == (str(tmp_path / "other.uf2"), str(tmp_path / images.BOOTROM_NAME))


def test_littlefs_images_round_trip_and_refuse_bad_paths_and_overflow():
    files = {"main.py": b"print(1)\n", "/lib/pump/a.mpy": bytes(range(256)) * 20, "data/empty": b""}
    image = lfs.build_image(files)
    assert len(image) == lfs.FS_BYTES
    assert lfs.read_files(image) == {"main.py": b"print(1)\n", "lib/pump/a.mpy": bytes(range(256)) * 20,
                                     "data/empty": b""}
    whole_flash = b"\xff" * lfs.FS_OFFSET + image + b"\xff" * (2 * 1024 * 1024 - lfs.FS_OFFSET - lfs.FS_BYTES)
    assert lfs.read_files(whole_flash)["main.py"] == b"print(1)\n"
    for bad in ("", "/", "a/../b", "a//b", "./a"):
        with pytest.raises(ValueError, match="files: "):
            lfs.build_image({bad: b""})
    with pytest.raises(ValueError, match="contents must be bytes"):
        lfs.build_image({"a": "text"})
    with pytest.raises(lfs.FsError, match="'big'"):
        lfs.build_image({"big": os.urandom(lfs.FS_BYTES)})


def test_a_git_worktree_finds_the_inputs_beside_its_main_checkout(tmp_path):
    main, tree = tmp_path / "main", tmp_path / "wt" / "branch"
    (main / ".git" / "worktrees" / "branch").mkdir(parents=True)
    tree.mkdir(parents=True)
    (tree / ".git").write_text("gitdir: %s\n" % (main / ".git" / "worktrees" / "branch"))
    assert images._main_checkout_dir(str(tree)) == str(tmp_path / "shared" / "rp2")
    assert images._main_checkout_dir(str(main)) is None  # the main checkout: ../shared/rp2 beside it, as ever
