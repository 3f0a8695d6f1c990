// Live charts of the dashboard: a bounded series per quantity and its SVG line, no library.
// A series keeps at most `max` points over the whole session: when full, every other point goes (the span stays,
// the resolution halves), so a day-long session costs as much memory as an hour-long one.

export class Series {
  constructor(max) {
    this.max = max;
    this.t = [];  // pump time, s since 2000-01-01
    this.v = [];
  }

  push(t, v) {
    if (v === null || v === undefined) return false;  // no value (no sensor, not read yet): no point
    const n = this.t.length;
    if (n && t <= this.t[n - 1]) {  // a repeated or late status: the newest value for that second
      if (t === this.t[n - 1]) this.v[n - 1] = v;
      return false;
    }
    if (n >= this.max) {
      this.t = this.t.filter((_, i) => i % 2 === 0);
      this.v = this.v.filter((_, i) => i % 2 === 0);
    }
    this.t.push(t);
    this.v.push(v);
    return true;
  }
}

// The polyline's points for a series in a width x height box (y grows downwards), and the series' value range.
export function linePoints(series, width, height) {
  const n = series.t.length;
  if (!n) return { points: "", lo: null, hi: null };
  const lo = Math.min(...series.v);
  const hi = Math.max(...series.v);
  const range = hi > lo ? hi - lo : 2;  // a flat line in the middle, not on an edge
  const base = hi > lo ? lo : lo - 1;
  const t0 = series.t[0];
  const span = Math.max(series.t[n - 1] - t0, 1);
  const pts = [];
  for (let i = 0; i < n; i++) {
    const x = ((series.t[i] - t0) / span) * width;
    const y = height - ((series.v[i] - base) / range) * height;
    pts.push(x.toFixed(1) + "," + y.toFixed(1));
  }
  return { points: pts.join(" "), lo, hi };
}

const SVG = "http://www.w3.org/2000/svg";
const W = 400;
const H = 100;

// Draw `series` into the <figure> `fig` (an <svg> and a <figcaption> are made once); `unit` labels the range.
export function drawChart(fig, series, unit, digits, timeText) {
  let svg = fig.querySelector("svg");
  if (!svg) {
    svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.appendChild(document.createElementNS(SVG, "polyline"));
    fig.prepend(svg);
  }
  const { points, lo, hi } = linePoints(series, W, H);
  svg.firstChild.setAttribute("points", points);
  const cap = fig.querySelector("figcaption");
  const n = series.t.length;
  cap.textContent = n
    ? lo.toFixed(digits) + "–" + hi.toFixed(digits) + " " + unit + ", " + timeText(series.t[0]) + " to "
      + timeText(series.t[n - 1]) + " (" + n + " points)"
    : "no readings";
}
