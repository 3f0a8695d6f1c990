// The world outside the chip's pins: levels the host drives, pin edges recorded in emulated time, ADC inputs.
//
// A pin's level is what the chip drives when its output is enabled, otherwise what the host drives (an external
// circuit: a button, an encoder, a pull-up resistor), otherwise the pad's own pull. The chip reads that level
// back on its input, also for its own outputs (rp2040js would read 0 for a driven-high pin, and for a pulled-up
// input the host never drove). Host levels, scheduled changes and ADC values belong to the board, not to one
// chip: they survive resets.

export const GPIO_COUNT = 30;
export const ADC_CHANNELS = 5;
const TEMP_SENSOR_27C = 876; // ADC4 code of 0.706 V at 3.3 V: the datasheet's 27 °C point

export class PinBench {
  constructor() {
    this.host = new Array(GPIO_COUNT).fill(null); // level the host drives, or null
    this.level = new Array(GPIO_COUNT).fill(0);
    this.watched = new Map(); // pin -> [[t_ns, level], ...]
    this.schedule = []; // [{t_ns, pin, level}] sorted by time
    this.nextEventNs = Infinity;
    this.adc = [0, 0, 0, 0, TEMP_SENSOR_27C];
    this.mcu = null;
    this.now = () => 0;
  }

  /** Connect a freshly built chip (at power-on or after a reset); `now()` gives the board's emulated time. */
  attach(mcu, now) {
    this.mcu = mcu;
    this.now = now;
    mcu.adc.channelValues = this.adc; // read at each conversion, so later host changes show at once
    mcu.gpio.forEach((gpio, pin) => {
      gpio.addListener(() => this.update(pin));
      this.update(pin);
    });
  }

  levelOf(pin) {
    const gpio = this.mcu.gpio[pin];
    if (gpio.outputEnable) return gpio.outputValue ? 1 : 0;
    if (this.host[pin] !== null) return this.host[pin];
    if (gpio.pullupEnabled && !gpio.pulldownEnabled) return 1;
    if (gpio.pullupEnabled && gpio.pulldownEnabled) return this.level[pin]; // bus keeper holds the last level
    return 0;
  }

  /** Re-evaluate one pin: feed its level to the chip's input and record an edge if it changed. */
  update(pin) {
    if (this.mcu === null) return;
    const gpio = this.mcu.gpio[pin];
    const level = this.levelOf(pin);
    if (gpio.rawInputValue !== !!level) gpio.setInputValue(!!level);
    if (level === this.level[pin]) return;
    this.level[pin] = level;
    const edges = this.watched.get(pin);
    if (edges !== undefined) edges.push([this.now(), level]);
  }

  drive(pin, level) {
    this.host[pin] = level;
    this.update(pin);
  }

  /** Queue host level changes [[t_ns, level], ...] at absolute emulated times (not before `nowNs`). */
  plan(pin, changes, nowNs) {
    let last = nowNs;
    for (const [tNs, level] of changes) {
      if (!(tNs >= last)) {
        throw new Error(`drive: changes: times must be ascending and not before now (${nowNs} ns), got ${tNs}`);
      }
      last = tNs;
    }
    for (const [tNs, level] of changes) this.schedule.push({ t_ns: tNs, pin, level });
    this.schedule.sort((a, b) => a.t_ns - b.t_ns);
    this.nextEventNs = this.schedule.length ? this.schedule[0].t_ns : Infinity;
  }

  /** Apply every scheduled change due at or before nowNs. */
  applyDue(nowNs) {
    let i = 0;
    while (i < this.schedule.length && this.schedule[i].t_ns <= nowNs) {
      const { pin, level } = this.schedule[i];
      this.drive(pin, level);
      i += 1;
    }
    this.schedule.splice(0, i);
    this.nextEventNs = this.schedule.length ? this.schedule[0].t_ns : Infinity;
  }

  watch(pins) {
    for (const pin of pins) if (!this.watched.has(pin)) this.watched.set(pin, []);
  }

  report(pins, clear) {
    const out = {};
    for (const pin of pins) {
      const edges = this.watched.get(pin);
      if (edges === undefined) throw new Error(`edges: pin ${pin} is not watched (watch it first)`);
      let rising = 0;
      for (const [, level] of edges) rising += level;
      out[pin] = { level: this.level[pin], rising, falling: edges.length - rising, edges: edges.slice() };
      if (clear) edges.length = 0;
    }
    return out;
  }

  state(pin) {
    const gpio = this.mcu.gpio[pin];
    return { level: this.level[pin], output: gpio.outputEnable, host: this.host[pin], function: gpio.functionSelect };
  }
}
