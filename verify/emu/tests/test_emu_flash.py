"""Flash written by stock MicroPython (littlefs through the boot ROM), read on the host; power cut at every flash
operation of a write; watchdog resets that keep the flash and report WDT_RESET."""

import pytest

from verify.emu import lfs

OLD = b"old contents " * 40  # 520 bytes: more than littlefs keeps inline, so the write takes its own blocks
NEW = b"NEW CONTENTS " * 60
WRITE = "with open('state.bin', 'wb') as f:\n    f.write(%r)\nprint('written')" % NEW


def test_a_file_written_by_the_program_is_read_back_on_the_host(boot):
    emu = boot({"main.py": b"print('ready')\n"})
    emu.expect(b"ready", within_ms=500)
    emu.flash_ops(clear=True)
    emu.exec("import os\nos.mkdir('data')\nwith open('data/log.txt', 'w') as f:\n"
             "    f.write('line %d\\n' % 1)\n    f.write('line %d\\n' % 2)")
    ops = emu.flash_ops()
    assert ops["program"] > 0 and ops["erase"] > 0
    assert ops["program_bytes"] % 256 == 0 and ops["erase_bytes"] % 4096 == 0
    files = emu.files()
    assert files["data/log.txt"] == b"line 1\nline 2\n"
    assert files["main.py"] == b"print('ready')\n"
    flash = emu.flash()
    assert len(flash) == 2 * 1024 * 1024
    assert flash[:4] != b"\xff\xff\xff\xff"  # boot2 of the image is still there


def test_a_blank_filesystem_is_formatted_by_the_firmware_and_mounts_on_the_host(boot):
    emu = boot(None)  # no image: the filesystem region is erased flash
    emu.expect(b">>> ", within_ms=2000)
    assert emu.flash_ops()["erase"] > 0
    assert emu.files() == {}
    emu.exec("f = open('x', 'w')\nf.write('y')")
    assert emu.files() == {"x": b""}  # created, its data not yet flushed: littlefs commits at close
    emu.exec("f.close()")
    assert emu.files() == {"x": b"y"}


@pytest.mark.parametrize("partial", ["nothing", "half"])
def test_a_power_cut_at_every_flash_operation_of_a_write_leaves_the_old_or_the_new_file(boot, partial):
    emu = boot({"state.bin": OLD})
    emu.expect(b">>> ", within_ms=500)
    before = emu.flash()
    emu.flash_ops(clear=True)
    assert emu.exec(WRITE).strip() == "written"
    log = emu.flash_ops(clear=True, log=True)["log"]
    assert emu.files()["state.bin"] == NEW
    assert len(log) >= 3
    outcomes = []
    for n, op in enumerate(log, start=1):
        emu.power_on_with(before)  # the same flash as before the write, for each cut
        emu.expect(b">>> ", within_ms=500)
        emu.cut_power(after_ops=n, partial_bytes=0 if partial == "nothing" else op["bytes"] // 2)
        emu.write(b"\r\x03\x03\x01")
        emu.expect(b"raw REPL; CTRL-B to exit\r\n>")
        emu.write(WRITE.encode() + b"\x04")
        result = emu.run(500)
        assert result.reason == "power_cut", "operation %d of %d was not reached" % (n, len(log))
        cut = emu.power_cuts[-1]
        assert (cut["kind"], cut["offset"], cut["index"]) == (op["kind"], op["offset"], n)
        on_host = emu.files()  # mounts (lfs.FsError otherwise) with the flash as the cut left it
        assert on_host["state.bin"] in (OLD, NEW), "operation %d: %r" % (n, on_host["state.bin"][:40])
        emu.run(1)  # power back on: the firmware mounts the same flash
        emu.expect(b">>> ", within_ms=500)
        assert emu.reset_cause == "power_on"
        on_device = emu.exec("print(open('state.bin', 'rb').read() == %r)" % NEW).strip()
        assert on_device == str(on_host["state.bin"] == NEW)
        outcomes.append(on_host["state.bin"] == NEW)
        emu.flash_ops(clear=True)
    assert outcomes[0] is False  # cut before anything landed: the old file, whole
    assert len(emu.power_cuts) == len(log)


WATCHDOG_MAIN = b"""
import machine, time
cause = machine.reset_cause()
n = int(open('boots').read()) + 1 if 'boots' in __import__('os').listdir() else 1
with open('boots', 'w') as f:
    f.write(str(n))
print('boot', n, 'cause', cause)
wdt = machine.WDT(timeout=300)
for i in range(3):
    time.sleep_ms(100)
    wdt.feed()
print('stops feeding')
while True:
    time.sleep_ms(1000)
"""


def test_a_watchdog_reset_reboots_main_py_with_wdt_reset_and_the_flash_kept(boot):
    emu = boot({"main.py": WATCHDOG_MAIN})
    assert b"boot 1 cause 1" in emu.expect(b"stops feeding", within_ms=1000)
    fed_at_ms = emu.now_ms
    assert b"boot 2 cause 3" in emu.expect(b"stops feeding", within_ms=2000)  # machine.WDT_RESET == 3
    assert [r["cause"] for r in emu.resets] == ["power_on", "watchdog"]
    fired_ms = emu.resets[1]["t_ns"] / 1e6
    assert 250 < fired_ms - fed_at_ms < 320  # 300 ms after the last feed (print and loop take a little)
    assert emu.files()["boots"] == b"2"
    emu.expect(b"stops feeding", within_ms=2000)
    assert emu.files()["boots"] == b"3"
    assert emu.exec("import machine\nprint(machine.reset_cause() == machine.WDT_RESET)").strip() == "True"


def test_machine_reset_reboots_through_the_watchdog_keeping_scratch_registers(boot):
    emu = boot({"main.py": b"import machine\nprint('scratch', machine.mem32[0x4005800c])\n"})
    assert b"scratch 0" in emu.expect(b">>> ", within_ms=500)
    emu.write(b"machine.mem32[0x4005800c] = 0x5eed\r")  # watchdog SCRATCH0, as board/pico_w.py marks a reset
    emu.write(b"machine.reset()\r")
    emu.expect(b"scratch 24301\r\n", within_ms=1000)
    emu.expect(b">>> ", within_ms=500)
    assert emu.reset_cause == "watchdog_force"
    assert emu.exec("print(machine.reset_cause())").strip() == "3"
    emu.reset()  # power-on clears them
    assert b"scratch 0" in emu.expect(b">>> ", within_ms=500)


def test_files_of_a_flash_without_filesystem_are_refused_in_one_line():
    with pytest.raises(lfs.FsError, match="does not mount"):
        lfs.read_files(b"\xff" * (2 * 1024 * 1024))
