// The outlet pressure the pump's sensor reads, on an ADC channel, as docs/hydraulics.md models it: every STEP edge
// with DIR forward pushes a step's volume into the compliance (the pressure jumps by J), a reverse step takes it out,
// and while the line is open that held volume drains into the CSF with the time constant tau; occluded, nothing
// drains. The CSF pressure carries the respiratory and cardiac waves, the sensor its noise; the voltage follows the
// board's analog scaling and the 12-bit conversion. Pure arithmetic on the emulated time of each event and read.

const TWO_PI = 2 * Math.PI;

export class Hydraulics {
  /** opts: {csf_kpa, j_kpa, tau_ms, mv_at_0, mv_per_kpa, noise_kpa, seed, vref_mv}; times in emulated ns. */
  constructor(opts, tNs) {
    this.o = opts;
    this.heldKpa = 0; // pressure of the volume held in the compliance, above the CSF pressure
    this.tNs = tNs;
    this.occluded = false;
    this.rng = (opts.seed >>> 0) || 1;
    this.steps = { forward: 0, reverse: 0 };
  }

  _advance(tNs) {
    const dt = tNs - this.tNs;
    if (dt > 0 && !this.occluded) this.heldKpa *= Math.exp(-dt / (this.o.tau_ms * 1e6));
    if (dt > 0) this.tNs = tNs;
  }

  /** A motor step at tNs: forward pushes J into the compliance, reverse takes it out. */
  stepped(forward, tNs) {
    this._advance(tNs);
    this.heldKpa += forward ? this.o.j_kpa : -this.o.j_kpa;
    this.steps[forward ? 'forward' : 'reverse'] += 1;
  }

  /** Block (true) or clear the line at tNs; clearing lets the held volume drain from then on. */
  occlude(occluded, tNs) {
    this._advance(tNs);
    this.occluded = occluded;
  }

  _noise() { // Irwin-Hall of four xorshift32 bytes: mean 0, sigma 1, bounded at +-3.5
    let x = this.rng;
    let sum = 0;
    for (let i = 0; i < 4; i++) {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      sum += (x & 0xff) / 255;
    }
    this.rng = x;
    return (sum - 2) / Math.sqrt(4 / 12);
  }

  kpa(tNs) {
    this._advance(tNs);
    const s = tNs / 1e9;
    const waves = this.occluded ? 0 : 0.25 * Math.sin(TWO_PI * s / 4) + 0.2 * Math.sin(TWO_PI * s / 0.9);
    return this.o.csf_kpa + waves + this.heldKpa + this.o.noise_kpa * this._noise();
  }

  /** The 12-bit conversion of the sensor's output at tNs. */
  code(tNs) {
    const mv = this.o.mv_at_0 + this.kpa(tNs) * this.o.mv_per_kpa;
    return Math.max(0, Math.min(4095, Math.round(mv * 4095 / this.o.vref_mv)));
  }
}
