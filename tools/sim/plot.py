"""Simulator plots: reservoir, cumulative delivered vs programmed, delivery rate, and the scenario's events."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tools.sim.marks import group_marks


def plot(sim, path, title=""):
    """Write a 3-panel PNG of a finished Simulation to `path`."""
    s = sim.series
    t = s["t_h"]
    days = t and t[-1] > 72
    x = [v / 24 for v in t] if days else t
    unit = "days" if days else "hours"
    fig, (ax_res, ax_del, ax_rate) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    ax_res.plot(x, s["reservoir_ul"], label="pump estimate")
    ax_res.plot(x, s["reservoir_true_ul"], "--", label="true (plant)")
    ax_res.axhline(sim.cfg.low_reservoir_ul, color="orange", lw=0.8, label="low threshold")
    ax_res.axhline(sim.cfg.empty_reservoir_ul, color="red", lw=0.8, label="empty threshold")
    ax_res.set_ylabel("reservoir (uL)")
    ax_res.legend(loc="upper right", fontsize=8)
    ax_del.plot(x, s["ideal_ul"], label="programmed (reference)")
    ax_del.plot(x, s["delivered_ul"], "--", label="delivered (plant)")
    ax_del.set_ylabel("cumulative (uL)")
    ax_del.legend(loc="upper left", fontsize=8)
    ax_rate.step(x, s["rate_ul_per_day"], where="post")
    ax_rate.set_ylabel("rate (uL/day)")
    ax_rate.set_ylim(bottom=0)
    ax_rate.set_xlabel(unit)
    span_h = max(t[-1] if t else 0, sim.end_ms / 3600000)
    for t_h, label, granted in group_marks(sim.marks, span_h):
        xm = t_h / 24 if days else t_h
        color, style = ("grey", "-") if granted else ("red", ":")  # a refused command is not drawn as a granted one
        for ax in (ax_res, ax_del, ax_rate):
            ax.axvline(xm, color=color, ls=style, lw=0.5, alpha=0.6)
        ax_rate.annotate(label, (xm, 0), rotation=90, fontsize=6, va="bottom", color=color)
    res = sim.result()
    fig.suptitle("%s: max error %.3f steps, %d steps, %d wake-ups" % (
        title, res["max_error_steps"], res["steps"], res["wakeups"]))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
