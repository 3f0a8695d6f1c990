"""Booting stock MicroPython on the emulated RP2040: the REPL, main.py from a littlefs image, the raw REPL, memory."""

import pytest

from verify.emu.emulator import EmulatorError

PWRON_RESET = 1  # machine.PWRON_RESET on the rp2 port
WDT_RESET = 3


def test_boots_to_the_repl_on_usb_with_the_banner_and_power_on_cause(boot):
    emu = boot()
    banner = emu.expect(b">>> ", within_ms=500)
    assert b"MicroPython v1.27.0" in banner and b"Raspberry Pi Pico with RP2040" in banner
    assert emu.now_ms < 500
    assert emu.reset_cause == "power_on"
    assert emu.exec("import machine\nprint(machine.reset_cause())").strip() == str(PWRON_RESET)


def test_main_py_runs_at_boot_and_its_prints_reach_the_console_without_any_input(boot):
    # printed before the host opened the port: MicroPython flushes it 16 USB frames after DTR (SOFs are emulated)
    emu = boot({"main.py": b"print('main says', 6 * 7)\n"})
    assert b"main says 42" in emu.expect(b">>> ", within_ms=500)
    assert emu.files()["main.py"] == b"print('main says', 6 * 7)\n"


def test_raw_repl_runs_code_and_returns_output_and_tracebacks(boot):
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    assert emu.exec("for i in range(3):\n    print(i * i)") == "0\r\n1\r\n4\r\n"
    out, err = emu.exec_raw("print('before')\nraise ValueError('bad value')")
    assert out == "before\r\n"
    assert "ValueError: bad value" in err
    with pytest.raises(EmulatorError, match="ValueError: bad value"):
        emu.exec("raise ValueError('bad value')")
    # a long program goes through the held USB reads whole (more than one 64-byte packet, more than the RX buffer)
    lines = "\n".join("v%d = %d" % (i, i) for i in range(200))
    assert emu.exec(lines + "\nprint(v0 + v199)") == "199\r\n"


def test_gc_mem_free_after_boot_is_reported(boot, record_property):
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    free = int(emu.exec("import gc\ngc.collect()\nprint(gc.mem_free())"))
    record_property("mem_free", free)
    print("gc.mem_free() after boot: %d bytes" % free)
    assert 200_000 < free < 264 * 1024  # the RP2040 has 264 KB of RAM; the heap is most of it


def test_a_sleeping_firmware_takes_almost_no_instructions_so_the_clock_skips_ahead(boot):
    # USB OUT reads are held until the host has data: an idle console raises no interrupts (rp2040js answered each
    # read at once with 0 bytes: 129 million instructions for these 2 s instead of about 90 thousand)
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    emu.exec("import time")
    before = emu.stats()
    emu.exec("time.sleep(2)", within_ms=3000)
    after = emu.stats()
    assert after["t_ns"] - before["t_ns"] > 2e9
    assert after["idle_ns"] - before["idle_ns"] > 0.99 * 2e9
    assert after["instructions"] - before["instructions"] < 1_000_000


def test_a_busy_program_runs_at_the_emulated_clock_rate(boot):
    # the table's figure of emulated instructions per wall second comes from this busy loop
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    before = emu.stats()
    out = emu.exec("import time\nt = time.ticks_ms()\nn = 0\n"
                   "while time.ticks_diff(time.ticks_ms(), t) < 500:\n    n += 1\nprint(n)", within_ms=2000)
    after = emu.stats()
    assert int(out) > 10_000
    assert 0.5e9 <= after["t_ns"] - before["t_ns"] < 0.6e9
    assert after["idle_ns"] - before["idle_ns"] < 0.01e9  # busy: nothing skipped
    cycles_per_ns = (after["cycles"] - before["cycles"]) / (after["t_ns"] - before["t_ns"])
    assert abs(cycles_per_ns - 0.125) < 0.001  # 125 MHz


def test_the_rtc_and_ticks_follow_emulated_time(boot):
    # the pump's calendar runs on machine.RTC and its schedules on ticks_ms
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    emu.exec("import machine, time\nrtc = machine.RTC()\nrtc.datetime((2026, 8, 1, 5, 23, 59, 58, 0))\n"
             "t0 = time.ticks_ms()")
    start_ms = emu.now_ms
    emu.run(3000)
    out = emu.exec("print(rtc.datetime()[:7], time.ticks_diff(time.ticks_ms(), t0))")
    date, elapsed_ms = out.rsplit(" ", 1)
    assert date == "(2026, 8, 2, 6, 0, 0, 1)"  # past midnight: the next day, Sunday
    assert abs(int(elapsed_ms) - (emu.now_ms - start_ms)) < 20


def test_a_power_on_reset_reboots_with_the_flash_kept(boot):
    emu = boot({"main.py": b"print('boot', open('main.py').read()[:5])\n"})
    emu.expect(b"boot print", within_ms=500)
    emu.reset()
    emu.expect(b"boot print", within_ms=500)
    assert [r["cause"] for r in emu.resets] == ["power_on", "power_on"]
    assert emu.resets[1]["t_ns"] > 0


def test_a_fault_halts_the_chip_with_one_line_until_a_power_on_reset(boot):
    # on silicon a breakpoint without a debugger and an unaligned load are HardFaults; the emulator must not go on
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    emu.exec("@micropython.asm_thumb\ndef brk():\n    data(2, 0xbe07)")
    with pytest.raises(EmulatorError, match=r"the emulated chip stopped at [\d.]+ ms: BKPT #7 at 0x2"):
        emu.exec("brk()")
    with pytest.raises(EmulatorError, match="BKPT #7"):
        emu.run(10)  # still halted
    emu.reset()
    emu.expect(b">>> ", within_ms=500)
    emu.exec("@micropython.asm_thumb\ndef load(r0):\n    ldr(r0, [r0, 0])")
    assert emu.exec("print(hex(load(0x20000000)))").startswith("0x")
    with pytest.raises(EmulatorError, match="read from address 20000001, which is not 32 bit aligned"):
        emu.exec("load(0x20000001)")
