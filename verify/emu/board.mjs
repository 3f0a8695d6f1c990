// One emulated Pico: an rp2040js chip rebuilt at every reset, the flash and the outside world kept across resets,
// and the loop that runs it in emulated time (idle time skipped, PIO in lock-step, scheduled pin changes).
//
// Booting is done as rp2040js's MicroPython demo does it: the image in flash, the boot ROM loaded (its functions
// are needed), the core started at 0x10000000 (boot2 in XIP). Booting through the ROM's reset path does not work
// in rp2040js (an unimplemented chip-reset register parks the core).
// Watchdog: when it fires, rp2040js re-arms its alarm with delta 0 and the clock loop spins forever. The trigger
// hook disarms it and asks for a reset; the chip is then rebuilt carrying the flash and the watchdog's REASON and
// SCRATCH registers (which survive a watchdog reset on silicon), so machine.reset_cause() reads WDT_RESET.

import { RP2040 } from 'rp2040js';
import { FlashOps, FLASH_SIZE } from './flash.mjs';
import { PioClock } from './pio.mjs';
import { PinBench } from './pins.mjs';
import { Transcript, UartLinks, UsbConsole } from './serial.mjs';

const FLASH_BASE = 0x10000000;
const LOG_KEEP = 50; // distinct emulator messages kept
const WATCHDOG_REASON_FORCE = 2; // CTRL.TRIGGER written (machine.reset()); 1 is the timer running out

/** rp2040js messages, counted and kept (never printed on stdout, which carries the protocol). An error, or an
 * instruction it does not implement, means the emulation no longer follows the silicon (which would fault): the
 * chip halts and the run reports it. Warnings (registers of peripherals it does not model) are only counted. */
class EmuLog {
  constructor(onFatal) {
    this.counts = new Map();
    this.onFatal = onFatal;
  }

  note(level, component, message) {
    const key = `${level} [${component}] ${message}`;
    if (this.counts.has(key) || this.counts.size < LOG_KEEP) this.counts.set(key, (this.counts.get(key) || 0) + 1);
    if (level === 'error' || message.includes('is not implemented yet')) this.onFatal(key);
  }

  debug() {}
  info() {}
  warn(component, message) { this.note('warn', component, message); }
  error(component, message) { this.note('error', component, message); }

  report() {
    return [...this.counts].map(([message, count]) => ({ message, count }));
  }
}

export class Board {
  /** image: {flash: Uint8Array(FLASH_SIZE), bootrom: Uint8Array(16 KiB)}; timing: flash op times. */
  constructor(image, timing) {
    this.flash = image.flash; // the flash while no chip runs (power cut), synced from the chip at each reset
    this.bootrom = image.bootrom;
    this.flashOps = new FlashOps(this.flash, timing);
    this.pins = new PinBench();
    this.pins.onSchedule = () => { this.brk = true; };
    this.transcript = new Transcript();
    this.transcript.onMatch = () => this.stop('pattern');
    this.usb = new UsbConsole(this.transcript);
    this.uarts = new UartLinks();
    this.log = new EmuLog((message) => this.halt(`rp2040js: ${message}`));
    this.baseNs = 0; // emulated time before the current chip was built
    this.events = []; // resets and power cuts not yet reported
    this.resets = [];
    this.totals = { instructions: 0, cycles: 0, idle_ns: 0, flash_stall_ns: 0, pio_steps: 0 };
    this.chip = null;
    this.powered = false;
    this.fault = null;
    this.power('power_on');
  }

  nowNs() {
    return this.baseNs + (this.chip ? this.chip.clock.nanos : 0);
  }

  /** Build a fresh chip: flash carried, watchdog REASON/SCRATCH carried for a watchdog reset, else cleared. */
  power(cause, watchdog = null) {
    if (this.chip !== null) {
      this.baseNs += this.chip.clock.nanos;
      this.totals.pio_steps += this.chip.pio.steps;
    }
    const mcu = new RP2040(); // with its own SimulationClock: no alarm of the old chip can fire
    const { clock } = mcu;
    mcu.logger = this.log;
    mcu.loadBootrom(new Uint32Array(this.bootrom.buffer, this.bootrom.byteOffset, this.bootrom.byteLength / 4));
    mcu.flash.set(this.flash); // into the chip's own 16 MB array, where the firmware reads and the traps write
    this.flashOps.flash = mcu.flash;
    const wd = mcu.peripherals[0x40058];
    if (watchdog !== null) {
      wd.reason = watchdog.reason;
      wd.scratchData.set(watchdog.scratch);
    }
    wd.onWatchdogTrigger = () => {
      wd.alarm.enable = false; // else re-armed with delta 0: the clock loop would spin forever
      const carried = { reason: wd.reason, scratch: wd.scratchData.slice() };
      this.requestReset(wd.reason === WATCHDOG_REASON_FORCE ? 'watchdog_force' : 'watchdog', carried);
    };
    const chip = { mcu, clock, nsPerCycle: 1e9 / mcu.clkSys, wd };
    mcu.addClockListener((hz) => { chip.nsPerCycle = 1e9 / hz; });
    chip.pio = new PioClock(mcu, () => { this.brk = true; }, (ns) => {
      this.pins.stampNs = ns === null ? null : this.baseNs + ns;
    });
    mcu.onBreak = (code) => this.halt(`BKPT #${code} at 0x${((mcu.core.PC - 2) >>> 0).toString(16)}`);
    this.flashOps.install(mcu, this.bootrom, () => this.nowNs(), (stallNs, cut) => {
      this.stallNs += stallNs;
      if (cut !== null) this.pendingCut = cut;
      this.brk = true;
    });
    this.chip = chip;
    this.pins.attach(mcu, () => this.nowNs());
    this.usb.attach(mcu, () => this.nowNs());
    this.uarts.attach(mcu);
    mcu.core.PC = FLASH_BASE;
    this.powered = true;
    this.fault = null;
    this.brk = false;
    this.stallNs = 0;
    this.frozenUntilNs = 0;
    this.pendingReset = null;
    this.pendingCut = null;
    const event = { type: 'reset', cause, t_ns: this.nowNs(), console_offset: this.transcript.total };
    this.resets.push(event);
    this.events.push(event);
  }

  /** Power cycled from outside (or the RUN pin): RAM and registers cleared, flash and the outside world kept. */
  powerCycle() {
    this.flash.set(this.flashBytes());
    this.power('power_on');
  }

  /** Power-on with these flash contents (a snapshot taken earlier): one process, many experiments. */
  powerOnWith(flash) {
    this.flash.set(flash);
    this.power('power_on');
  }

  requestReset(cause, watchdog) {
    this.pendingReset = { cause, watchdog };
    this.brk = true;
  }

  halt(message) {
    this.fault = message;
    this.stop('fault');
  }

  stop(reason) {
    this.stopReason = reason;
    this.brk = true;
  }

  /** Flash contents as the firmware would read them now. */
  flashBytes() {
    return this.chip.mcu.flash.subarray(0, FLASH_SIZE);
  }

  /** Handle what broke the inner loop: power cut, flash stall, reset, PIO changes. Returns a stop reason or null. */
  _service() {
    this.brk = false;
    const { chip } = this;
    if (this.pendingCut !== null) {
      const cut = this.pendingCut;
      this.pendingCut = null;
      this.flash.set(this.flashBytes());
      this.powered = false;
      this.events.push({ type: 'power_cut', ...cut, t_ns: this.nowNs(), console_offset: this.transcript.total });
      return 'power_cut';
    }
    if (this.stallNs > 0) { // the core sits in the ROM routine; timers, PIO and the watchdog run on
      this.frozenUntilNs = chip.clock.nanos + this.stallNs;
      this.stallNs = 0;
    }
    if (this.pendingReset !== null) {
      const { cause, watchdog } = this.pendingReset;
      this.flash.set(this.flashBytes());
      this.power(cause, watchdog);
      return null;
    }
    if (chip.pio.touched) chip.pio.refresh(chip.clock.nanos);
    if (this.stopReason) return this.stopReason;
    return null;
  }

  /** Run until emulated time untilNs (board time), a console pattern, a power cut or a fault. */
  run(untilNs, wallLimitMs) {
    if (!this.powered) this.power('power_on');
    this.stopReason = null;
    const wallStart = performance.now();
    const instrStart = this.totals.instructions;
    const idleStart = this.totals.idle_ns;
    const tStart = this.nowNs();
    let reason = 'fault'; // a fault stays until the next reset
    if (this.fault === null) {
      try {
        reason = this._loop(untilNs, wallStart, wallLimitMs);
      } catch (err) {
        this.fault = `emulator exception: ${err.message}`;
      }
    }
    return {
      reason,
      run: {
        emulated_ns: this.nowNs() - tStart,
        wall_ms: performance.now() - wallStart,
        instructions: this.totals.instructions - instrStart,
        idle_ns: this.totals.idle_ns - idleStart,
      },
    };
  }

  _loop(untilNs, wallStart, wallLimitMs) {
    let sinceWallCheck = 0;
    for (;;) {
      if (this.brk) {
        const reason = this._service();
        if (reason !== null) return reason;
      }
      const { chip, pins } = this;
      const { mcu, clock } = chip;
      const core = mcu.core;
      const now = clock.nanos;
      const limit = Math.min(untilNs - this.baseNs, chip.pio.nextDueNs, pins.nextEventNs - this.baseNs);
      if (this.nowNs() >= untilNs) return 'time';
      const frozen = now < this.frozenUntilNs;
      if (core.waiting || frozen) { // nothing for the core to do until the next alarm, PIO step or pin change
        let next = frozen ? Math.min(limit, this.frozenUntilNs) : limit;
        if (clock.nextAlarm !== null && clock.nextAlarm.nanos < next) next = clock.nextAlarm.nanos;
        const skip = Math.max(0, next - now);
        this.totals[frozen ? 'flash_stall_ns' : 'idle_ns'] += skip;
        clock.tick(skip);
      } else {
        const nsPerCycle = chip.nsPerCycle;
        let n = 0;
        let cycles = 0;
        while (!core.waiting && !this.brk && clock.nanosCounter < limit) {
          const c = core.executeInstruction();
          clock.tick(c * nsPerCycle);
          cycles += c;
          n += 1;
        }
        this.totals.instructions += n;
        this.totals.cycles += cycles; // counted here: rp2040js adds the divider's 8 cycles to core.cycles untimed
        sinceWallCheck += n;
      }
      if (clock.nanos >= chip.pio.nextDueNs) chip.pio.advance(clock.nanos);
      if (this.baseNs + clock.nanos >= pins.nextEventNs) pins.applyDue(this.baseNs + clock.nanos);
      if (sinceWallCheck > 200000 || core.waiting || frozen) {
        sinceWallCheck = 0;
        if (wallLimitMs > 0 && performance.now() - wallStart > wallLimitMs) return 'wall_limit';
      }
    }
  }

  stats() {
    const chip = this.chip;
    return {
      t_ns: this.nowNs(),
      instructions: this.totals.instructions,
      cycles: this.totals.cycles,
      idle_ns: this.totals.idle_ns,
      flash_stall_ns: this.totals.flash_stall_ns,
      pio_steps: this.totals.pio_steps + chip.pio.steps,
      resets: this.resets,
      usb_connected_ns: this.usb.connectedNs,
      console_bytes: this.transcript.total,
      console_input_dropped: this.usb.dropped,
      uart_rx_lost: this.uarts.lost,
      clk_sys_hz: chip.mcu.clkSys,
      pc: chip.mcu.core.PC,
      powered: this.powered,
      fault: this.fault,
      emulator_messages: this.log.report(),
    };
  }
}
