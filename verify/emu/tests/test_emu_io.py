"""Pins, PIO, ADC and UART between stock MicroPython and the host, judged in emulated time."""

import pytest

# n pulses at `freq / 32` per second: pull n, loop entered at its test (n = 0 gives none), 16 cycles high, 16 low,
# then the count pushed back; the CPU sleeps a millisecond between polls of the RX FIFO (the pump's own pattern)
PULSES = """
import rp2, time
from machine import Pin

@rp2.asm_pio(set_init=rp2.PIO.OUT_LOW)
def pulses():
    pull(block)
    mov(x, osr)
    jmp("test")
    label("loop")
    set(pins, 1) [15]
    set(pins, 0) [14]
    label("test")
    jmp(x_dec, "loop")
    mov(isr, osr)
    push(block)

def burst(sm_id, pin, rate_hz, n):
    sm = rp2.StateMachine(sm_id, pulses, freq=32 * rate_hz, set_base=Pin(pin))
    sm.active(1)
    sm.put(n)
    while sm.rx_fifo() == 0:
        time.sleep_ms(1)
    echo = sm.get()
    sm.active(0)
    return echo
"""


def _rate_hz(rising_ns):
    return (len(rising_ns) - 1) / ((rising_ns[-1] - rising_ns[0]) / 1e9)


@pytest.mark.parametrize(("rate_hz", "n"), [(500, 300), (2000, 1000)])
def test_pio_pulse_train_count_is_exact_and_rate_within_one_percent(boot, rate_hz, n):
    emu = boot({"pulses.py": PULSES.encode()})
    emu.expect(b">>> ", within_ms=500)
    assert emu.watch([2]) == {2: 0}
    out = emu.exec("from pulses import burst\nprint(burst(0, 2, %d, %d))" % (rate_hz, n), within_ms=3000)
    assert out.strip() == str(n)
    step = emu.edges([2])[2]
    assert (step.rising, step.falling, step.level) == (n, n, 0)
    rising = step.times_ns(1)
    assert abs(_rate_hz(rising) / rate_hz - 1) < 0.01
    high_ns = [fall - rise for rise, fall in zip(rising, step.times_ns(0))]
    period_ns = 1e9 / rate_hz
    assert all(abs(h / period_ns - 0.5) < 0.01 for h in high_ns)  # 16 of 32 machine cycles high
    # the CPU slept between its polls: the burst cost little wall time
    assert emu.stats()["idle_ns"] > 0.5 * n / rate_hz * 1e9


def test_pio_keeps_its_rate_while_the_core_is_stalled_in_a_flash_write(boot):
    # a sector erase stalls the core for 45 ms (the W25Q16JV's typical time); the state machine runs on meanwhile
    emu = boot({"pulses.py": PULSES.encode()})
    emu.expect(b">>> ", within_ms=500)
    emu.watch([2])
    code = ("from pulses import pulses\nimport rp2, time\nfrom machine import Pin\n"
            "sm = rp2.StateMachine(0, pulses, freq=32 * 1000, set_base=Pin(2))\nsm.active(1)\nsm.put(200)\n"
            "t0 = time.ticks_us()\nwith open('log.bin', 'wb') as f:\n    f.write(bytes(3000))\n"
            "print(time.ticks_diff(time.ticks_us(), t0))\n"
            "while sm.rx_fifo() == 0:\n    time.sleep_ms(1)\nprint(sm.get())")
    before = emu.stats()["flash_stall_ns"]
    write_us, echo = (int(x) for x in emu.exec(code, within_ms=2000).split())
    stall_ns = emu.stats()["flash_stall_ns"] - before
    ops = emu.flash_ops()
    assert stall_ns == ops["erase"] * 45e6 + ops["program_bytes"] // 256 * 0.4e6 > 0
    assert write_us * 1000 >= stall_ns  # the firmware's clock saw the stall
    step = emu.edges([2])[2]
    assert echo == step.rising == 200
    assert abs(_rate_hz(step.times_ns(1)) / 1000 - 1) < 0.01


def test_pio_zero_pulses_gives_no_edge_and_a_disabled_machine_drives_nothing(boot):
    emu = boot({"pulses.py": PULSES.encode()})
    emu.expect(b">>> ", within_ms=500)
    emu.watch([2, 3])
    code = ("from pulses import burst, pulses\nimport rp2\nfrom machine import Pin\n"
            "idle = rp2.StateMachine(1, pulses, freq=16000, set_base=Pin(3))\n"  # configured and fed, never active:
            "idle.put(5)\n"  # rp2040js stepped every machine, enabled or not
            "print(burst(0, 2, 500, 0), burst(0, 2, 500, 20))")
    assert emu.exec(code, within_ms=2000).split() == ["0", "20"]
    edges = emu.edges([2, 3])
    assert edges[2].rising == 20
    assert edges[3].edges == []


def test_pwm_waveform_frequency_and_duty_on_the_pin(boot):
    # the buzzer's PWM (GP15): rp2040js drives the pin from its PWM counters
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    emu.watch([15])
    emu.exec("from machine import PWM, Pin\nimport time\n"
             "p = PWM(Pin(15), freq=2000, duty_u16=16384)\ntime.sleep_ms(30)\np.deinit()")
    tone = emu.edges([15])[15]
    rising, falling = tone.times_ns(1), tone.times_ns(0)
    assert tone.rising >= 55
    assert abs(_rate_hz(rising) / 2000 - 1) < 0.01
    if falling[0] < rising[0]:
        falling = falling[1:]
    high_ns = [f - r for r, f in zip(rising, falling)]
    assert all(abs(h / 500_000 - 0.25) < 0.01 for h in high_ns)  # 25 % of a 500 us period


def test_adc_values_set_by_the_host_are_read_by_read_u16(boot):
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    readings = {0: 0, 1: 1000, 2: 2048, 3: 4095}
    for channel, value in readings.items():
        emu.set_adc(channel, value)
    out = emu.exec("from machine import ADC\nprint([ADC(26 + c).read_u16() for c in range(4)])")
    # MicroPython scales the 12-bit result to 16 bits as (raw << 4) | (raw >> 8)
    assert out.strip() == str([(v << 4) | (v >> 8) for v in readings.values()])
    emu.set_adc(1, 3000)  # a change shows at the next conversion
    assert emu.exec("print(ADC(27).read_u16() >> 4)").strip() == "3000"


def test_adc_changes_planned_by_the_host_land_at_their_emulated_times(boot):
    # a pressure rise during a run, as an occlusion would show on GP27
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    emu.set_adc(1, 1000)
    t0 = emu.now_ms
    emu.drive_adc(1, [(t0 + 50, 1500), (t0 + 100, 3000)])
    out = emu.exec("from machine import ADC\nimport time\nadc = ADC(27)\nseen = []\n"
                   "for i in range(15):\n    seen.append(adc.read_u16() >> 4)\n    time.sleep_ms(10)\nprint(seen)")
    seen = [int(v) for v in out.strip()[1:-1].split(",")]
    assert seen[0] == 1000 and seen[-1] == 3000
    assert sorted(seen) == seen and set(seen) == {1000, 1500, 3000}
    assert 4 <= seen.count(1500) <= 6  # 50 ms at one reading per 10 ms


def test_an_encoder_following_the_step_pin_until_it_stalls(boot):
    emu = boot({"pulses.py": PULSES.encode()})
    emu.expect(b">>> ", within_ms=500)
    emu.watch([2, 7])
    emu.follow(7, 2, every=2, delay_ms=0.1, high_ms=0.2)  # one encoder pulse per two steps
    emu.exec("from pulses import burst\nburst(0, 2, 1000, 40)", within_ms=1000)
    edges = emu.edges([2, 7], clear=True)
    assert (edges[2].rising, edges[7].rising, edges[7].level) == (40, 20, 0)
    steps = edges[2].times_ns(1)
    assert [t - s for s, t in zip(steps[1::2], edges[7].times_ns(1))] == [100_000] * 20
    emu.follow(7, None)  # the motor stalls: steps, no encoder
    emu.exec("burst(0, 2, 1000, 10)", within_ms=1000)
    edges = emu.edges([2, 7])
    assert (edges[2].rising, edges[7].rising) == (10, 0)


def test_gpio_levels_driven_by_the_host_are_read_by_the_program(boot):
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    emu.exec("from machine import Pin\nbutton = Pin(5, Pin.IN, Pin.PULL_UP)\nfloat_in = Pin(9, Pin.IN)")
    assert emu.exec("print(button.value(), float_in.value())").split() == ["1", "0"]  # pads' pulls when undriven
    emu.set_pin(5, 0)
    emu.set_pin(9, 1)
    assert emu.exec("print(button.value(), float_in.value())").split() == ["0", "1"]
    assert emu.set_pin(5, None)["level"] == 1  # released: the pull-up again
    # an output reads back what it drives; the host sees it on the pin
    emu.watch([8])
    assert emu.exec("out = Pin(8, Pin.OUT, value=1)\nprint(out.value())").strip() == "1"
    assert emu.pin_state(8) == {"level": 1, "output": True, "host": None, "function": 5}


def test_pulses_scheduled_by_the_host_arrive_at_their_emulated_times(boot):
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    emu.exec("from machine import Pin\nimport time\nseen = []\n"
             "enc = Pin(6, Pin.IN, Pin.PULL_DOWN)\n"
             "enc.irq(lambda p: seen.append(time.ticks_us()), Pin.IRQ_RISING)")
    start_ms = emu.now_ms + 20
    emu.pulse_train(6, start_ms, count=50, period_ms=2.0, high_ms=0.5)
    emu.run(150)
    out = emu.exec("print(len(seen), time.ticks_diff(seen[-1], seen[0]))")
    count, span_us = (int(x) for x in out.split())
    assert count == 50
    assert abs(span_us - 49 * 2000) <= 50  # interrupt latency only: ticks follow emulated time


def test_uart_bytes_both_ways_without_live_lock(boot):
    # rp2040js re-raised TX-empty after every clear: interrupt-driven machine.UART never returned to the program
    emu = boot()
    emu.expect(b">>> ", within_ms=500)
    emu.exec("from machine import UART, Pin\nimport time\n"
             "u = UART(0, 115200, tx=Pin(0), rx=Pin(1), txbuf=256, rxbuf=256)\n"
             "u.write(b'ping ' * 40)\n"
             "deadline = time.ticks_add(time.ticks_ms(), 50)\n"
             "while u.txdone() is False and time.ticks_diff(deadline, time.ticks_ms()) > 0:\n"
             "    time.sleep_ms(1)", within_ms=2000)
    assert emu.uart_read(0) == b"ping " * 40
    emu.uart_write(0, b"pong " * 30)
    emu.run(30)  # 150 bytes at 115200 baud take 13 ms
    assert emu.exec("print(u.read())").strip() == repr(b"pong " * 30)
    emu.uart_write(1, b"lost")  # UART1 was never switched on: the bytes fall on the floor, as on a board
    emu.run(5)
    assert emu.stats()["uart_rx_lost"] == [0, 4]
