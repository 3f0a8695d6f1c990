// PIO state machines stepped in lock-step with the CPU's emulated time, honouring CLKDIV and [delay] cycles.
//
// rp2040js 1.4.1 runs PIO free on setTimeout, one instruction per step of every state machine (enabled or not),
// ignoring the clock divider and the delay field: pulse counts come out right but rates do not, and a disabled
// machine can still drive pins. Here the free run is switched off and each enabled machine executes its next
// instruction when the emulated clock reaches its due time; an instruction takes (1 + delay) machine cycles of
// CLKDIV / clk_sys each. A machine stalled on a FIFO can only be released by the CPU, so it is parked (no steps,
// no limit on idle skipping) until the CPU touches its PIO block.

const WAIT_RX_FIFO = 2; // rp2040js WaitType values (not exported by the package)
const WAIT_TX_FIFO = 3;
const WAIT_OUT = 5;
const RXF0 = 0x20;
const RXF3 = 0x2c;

function stalledOnFifo(sm) {
  return sm.waiting && (sm.waitType === WAIT_TX_FIFO || sm.waitType === WAIT_OUT || sm.waitType === WAIT_RX_FIFO);
}

export class PioClock {
  /** onTouched(): the CPU wrote a PIO block; stamp(ns | null): the time pin changes happen at (null: the clock's). */
  constructor(mcu, onTouched, stamp) {
    this.mcu = mcu;
    this.stamp = stamp;
    this.nextDueNs = Infinity;
    this.steps = 0;
    this.machines = [];
    for (const pio of mcu.pio) {
      pio.run = () => {}; // no free run: stepped from advance()
      const write = pio.writeUint32.bind(pio);
      pio.writeUint32 = (offset, value) => {
        write(offset, value);
        this.touched = true;
        onTouched();
      };
      const read = pio.readUint32.bind(pio);
      pio.readUint32 = (offset) => {
        const value = read(offset);
        if (offset >= RXF0 && offset <= RXF3) { // an RX FIFO read can release a machine stalled on push
          this.touched = true;
          onTouched();
        }
        return value;
      };
      for (const sm of pio.machines) this.machines.push({ pio, sm, dueNs: Infinity, parked: false, was: false });
    }
    this.touched = false;
  }

  periodNs(sm) {
    const div = (sm.clockDivInt === 0 ? 65536 : sm.clockDivInt) + sm.clockDivFrac / 256;
    return (div * 1e9) / this.mcu.clkSys;
  }

  /** Re-read which machines run after the CPU touched a PIO block (enable, FIFO, exec, divider). */
  refresh(nowNs) {
    this.touched = false;
    for (const m of this.machines) {
      const enabled = m.sm.enabled;
      if (enabled && (!m.was || (m.parked && !stalledOnFifo(m.sm)))) {
        m.dueNs = nowNs + (m.was ? this.periodNs(m.sm) : 0);
        m.parked = false;
      }
      if (!enabled) m.dueNs = Infinity;
      m.was = enabled;
    }
    for (const pio of this.mcu.pio) pio.checkChangedPins(); // an exec'd `set pins` shows at once
    this._schedule();
  }

  /** Execute every instruction due at or before nowNs; pin changes are stamped with the instruction's due time. */
  advance(nowNs) {
    for (const m of this.machines) {
      if (m.parked || m.dueNs > nowNs) continue;
      const { sm } = m;
      while (m.dueNs <= nowNs) {
        if (stalledOnFifo(sm)) {
          m.parked = true;
          break;
        }
        const before = sm.cycles;
        this.stamp(m.dueNs);
        sm.step();
        m.pio.checkChangedPins();
        this.steps += 1;
        const cycles = sm.cycles - before; // 1 + delay, or 0 while stalled on a pin / IRQ wait
        m.dueNs += (cycles > 0 ? cycles : 1) * this.periodNs(sm);
      }
    }
    this.stamp(null);
    this._schedule();
  }

  _schedule() {
    let next = Infinity;
    for (const m of this.machines) if (!m.parked && m.dueNs < next) next = m.dueNs;
    this.nextDueNs = next;
  }
}
