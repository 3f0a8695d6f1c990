// The world outside the chip's pins: levels the host drives (now, at planned times, or following another pin as
// an encoder follows the motor), pin edges recorded in emulated time, ADC inputs (now or at planned times, or from the
// pressure plant of hydraulics.mjs).
//
// A pin's level is what the chip drives when its output is enabled, otherwise what the host drives (an external
// circuit: a button, an encoder, a pull-up resistor), otherwise the pad's own pull. The chip reads that level
// back on its input, also for its own outputs (rp2040js would read 0 for a driven-high pin, and for a pulled-up
// input the host never drove). Host levels, planned changes, followers and ADC values belong to the board, not to
// one chip: they survive resets.

export const GPIO_COUNT = 30;
export const ADC_CHANNELS = 5;
const TEMP_SENSOR_27C = 876; // ADC4 code of 0.706 V at 3.3 V: the datasheet's 27 °C point

/** A host request the bench cannot carry out (the message names the key). */
export class PinError extends Error {}

export class PinBench {
  constructor() {
    this.host = new Array(GPIO_COUNT).fill(null); // level the host drives, or null
    this.level = new Array(GPIO_COUNT).fill(0);
    this.watched = new Map(); // pin -> [[t_ns, level], ...]
    this.schedule = []; // [{t_ns, kind: 'pin' | 'adc', index, value}] sorted by time
    this.nextEventNs = Infinity;
    this.onSchedule = () => {}; // told when an event comes due earlier than any before (the run loop must stop)
    this.followers = new Map(); // src pin -> [{dst, every, delayNs, highNs, count}]
    this.adc = [0, 0, 0, 0, TEMP_SENSOR_27C];
    this.mcu = null;
    this.now = () => 0;
    this.stampNs = null; // when set, the emulated time of the changes being made (a PIO instruction's, a plan's)
    this.plant = null; // {model: Hydraulics, channel, step, dir, forward} once the pressure plant is attached
  }

  /** The pressure plant on ADC `channel`, driven by the STEP pin's rising edges (DIR at `forward`: a forward step);
   * each conversion of that channel reads the model at its emulated time. Setting the channel's value detaches it. */
  attachPlant(model, channel, step, dir, forward) {
    this.plant = { model, channel, step, dir, forward };
    const bench = this;
    Object.defineProperty(this.adc, channel, {
      configurable: true,
      enumerable: true,
      get: () => model.code(bench._time()),
      set(value) {
        delete bench.adc[channel];
        bench.adc[channel] = value;
        bench.plant = null;
      },
    });
  }

  _time() {
    return this.stampNs === null ? this.now() : this.stampNs;
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
    if (edges !== undefined) edges.push([this._time(), level]);
    if (level === 1 && this.followers.has(pin)) this._rose(pin, this._time());
    const plant = this.plant;
    if (level === 1 && plant !== null && pin === plant.step) {
      plant.model.stepped(this.level[plant.dir] === plant.forward, this._time());
    }
  }

  drive(pin, level) {
    this.host[pin] = level;
    this.update(pin);
  }

  /** Queue changes [[t_ns, value], ...] of a pin's host level or of an ADC input, at absolute emulated times. */
  plan(kind, index, changes, nowNs) {
    let last = nowNs;
    for (const [tNs] of changes) {
      if (!(tNs >= last)) {
        throw new PinError(`changes: times must be ascending and not before now (${nowNs} ns), got ${tNs}`);
      }
      last = tNs;
    }
    for (const [tNs, value] of changes) this._queue({ t_ns: tNs, kind, index, value });
  }

  _queue(event) {
    let i = this.schedule.length;
    while (i > 0 && this.schedule[i - 1].t_ns > event.t_ns) i -= 1;
    this.schedule.splice(i, 0, event);
    if (event.t_ns < this.nextEventNs) {
      this.nextEventNs = event.t_ns;
      this.onSchedule();
    }
  }

  /** Apply every scheduled change due at or before nowNs. */
  applyDue(nowNs) {
    const due = [];
    while (this.schedule.length && this.schedule[0].t_ns <= nowNs) due.push(this.schedule.shift());
    this.nextEventNs = this.schedule.length ? this.schedule[0].t_ns : Infinity;
    for (const { t_ns: tNs, kind, index, value } of due) {
      this.stampNs = tNs;
      if (kind === 'adc') this.adc[index] = value;
      else this.drive(index, value);
    }
    this.stampNs = null;
  }

  /** An encoder on `dst`: a pulse of highNs, delayNs after every `every`-th rising edge of `src` (null: stop). */
  follow(dst, src, every, delayNs, highNs) {
    for (const list of this.followers.values()) {
      const at = list.findIndex((f) => f.dst === dst);
      if (at >= 0) list.splice(at, 1);
    }
    if (src === null) return;
    if (!this.followers.has(src)) this.followers.set(src, []);
    this.followers.get(src).push({ dst, every, delayNs, highNs, count: 0 });
  }

  _rose(pin, nowNs) {
    for (const f of this.followers.get(pin) || []) {
      f.count += 1;
      if (f.count % f.every !== 0) continue;
      this._queue({ t_ns: nowNs + f.delayNs, kind: 'pin', index: f.dst, value: 1 });
      this._queue({ t_ns: nowNs + f.delayNs + f.highNs, kind: 'pin', index: f.dst, value: 0 });
    }
  }

  watch(pins) {
    for (const pin of pins) if (!this.watched.has(pin)) this.watched.set(pin, []);
  }

  report(pins, clear) {
    const out = {};
    for (const pin of pins) {
      const edges = this.watched.get(pin);
      if (edges === undefined) throw new PinError(`pin ${pin} is not watched (watch it first)`);
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
