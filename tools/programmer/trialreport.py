"""The screening trial's report from the pump's history (or a simulation result): baseline against trial pain, the
percent relief, the responder criterion and a one-line verdict with the numbers behind it, the side effects, a CSV of
the scores and steps, and a plot of dose and pain over time with the titration steps marked."""

import csv
import datetime

from tools.programmer.report import InputError
from tools.pumplink.history import EPOCH, trial_data, utc_text

DEFAULT_RESPONDER_PCT = 50


def summarise(records, responder_pct=DEFAULT_RESPONDER_PCT, where="history"):
    """The report's numbers: the trial (pump.trial as logged), the baseline and trial scores and their means, the
    relief, the verdict. InputError (one line naming `where`) when there is nothing to judge."""
    trial = trial_data(records)
    if trial is None:
        raise InputError("%s: no trial program in this history (send one with `programmer trial TRIAL.json`)" % where)
    base = [s for s in trial["scores"] if s["baseline"]]
    during = [s for s in trial["scores"] if not s["baseline"] and s["t_s"] < trial["end_t_s"]]
    if not trial["scores"]:
        raise InputError("%s: no pain scores in this history: record a baseline and trial scores first" % where)
    if not base:
        raise InputError("%s: no baseline pain score: relief cannot be measured without one" % where)
    if not during:
        raise InputError("%s: no pain score during the trial (%s .. %s): nothing to compare with the baseline" % (
            where, trial["start"], trial["end"]))
    base_mean = _mean(base)
    if base_mean == 0:
        raise InputError("%s: baseline pain is 0/10: relief cannot be measured" % where)
    steps = trial["steps"]
    for i, step in enumerate(steps):  # each step's scores: from its start to the next step's (or the trial's end)
        until = steps[i + 1]["t_s"] if i + 1 < len(steps) else trial["end_t_s"]
        step["scores"] = [x["score"] for x in during if step["t_s"] <= x["t_s"] < until]
    # the verdict judges the dose the titration reached: the scores of the last step that has some (else all)
    judged = next((st["scores"] for st in reversed(steps) if st["scores"]), [x["score"] for x in during])
    trial_mean = sum(judged) / len(judged)
    relief = 100 * (base_mean - trial_mean) / base_mean
    effects = {}
    for s in during:
        for name in s["side_effects"] + (["code %d" % s["free_code"]] if s["free_code"] else []):
            effects[name] = effects.get(name, 0) + 1
    responder = relief >= responder_pct
    at = next((st for st in reversed(steps) if st["scores"]), None)
    verdict = "%s: %.0f %% relief (baseline %.1f/10 from %d scores, %.1f/10 from %d scores %s; criterion %g %%)" % (
        "RESPONDER" if responder else "NOT A RESPONDER", relief, base_mean, len(base), trial_mean, len(judged),
        "at %g ug/day" % at["dose_ug_per_day"] if at is not None else "during the trial", responder_pct)
    return {"trial": trial, "baseline": base, "scores": during, "baseline_mean": base_mean, "trial_mean": trial_mean,
            "mean_all": _mean(during), "relief_pct": relief, "responder_pct": responder_pct, "responder": responder,
            "side_effects": effects, "verdict": verdict}


def _mean(scores):
    return sum(x["score"] for x in scores) / len(scores)


def lines(s):
    t = s["trial"]
    out = ["screening trial %s .. %s, %d titration steps applied%s" % (
        t["start"], t["end"], len(t["steps"]), "; titration ended: %s" % t["ended"] if t["ended"] else "")]
    for step in t["steps"]:
        n = len(step["scores"])
        out.append("  step %d from %s: %g ug/day, pain %s" % (
            step["step"], utc_text(step["t_s"]), step["dose_ug_per_day"],
            "%.1f/10 (%d scores)" % (sum(step["scores"]) / n, n) if n else "not scored"))
    out.append("baseline pain %.1f/10 (%d scores); over the whole trial %.1f/10 (%d scores)" % (
        s["baseline_mean"], len(s["baseline"]), s["mean_all"], len(s["scores"])))
    effects = ", ".join("%s x%d" % kv for kv in sorted(s["side_effects"].items())) or "none"
    out.append("side effects during the trial: %s" % effects)
    out.append(s["verdict"])
    return out


def write_csv(path, s):
    """One row per baseline score, trial score and titration step, in time order."""
    rows = []
    for sc in s["trial"]["scores"]:
        rows.append((sc["t_s"], "baseline" if sc["baseline"] else "score", sc["score"], "", sc["by"],
                     ";".join(sc["side_effects"]), sc["free_code"] or ""))
    for st in s["trial"]["steps"]:
        rows.append((st["t_s"], "step %d" % st["step"], "", st["dose_ug_per_day"], "", "", ""))
    rows.sort(key=lambda r: r[0])
    try:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(("time_utc", "kind", "pain_0_10", "dose_ug_per_day", "by", "side_effects", "free_code"))
            for r in rows:
                w.writerow((utc_text(r[0]),) + r[1:])
    except OSError as e:
        raise InputError("%s: cannot write (%s)" % (path, e.strerror)) from e


def _when(t_s):
    return EPOCH + datetime.timedelta(seconds=t_s)


def plot(path, s, title="screening trial"):
    """Dose (steps) and pain (points) against time, the titration steps as vertical lines, the baseline dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = s["trial"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    steps = t["steps"]
    end = _when(max([t["end_t_s"]] + [x["t_s"] for x in t["scores"]]))
    if steps:
        xs = [_when(st["t_s"]) for st in steps] + [end]
        ys = [st["dose_ug_per_day"] for st in steps] + [steps[-1]["dose_ug_per_day"]]
        ax.step(xs, ys, where="post", color="tab:blue", label="dose (ug/day)")
        for st in steps:
            ax.axvline(_when(st["t_s"]), color="tab:blue", linestyle=":", linewidth=1)
            ax.annotate("step %d" % st["step"], (_when(st["t_s"]), st["dose_ug_per_day"]), fontsize=8,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_ylabel("dose (ug/day)", color="tab:blue")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    for group, color, label in ((s["baseline"], "tab:gray", "baseline pain"), (s["scores"], "tab:red", "pain")):
        ax2.plot([_when(x["t_s"]) for x in group], [x["score"] for x in group], "o", color=color, label=label)
    ax2.axhline(s["baseline_mean"], color="tab:gray", linestyle="--", linewidth=1)
    ax2.axhline(s["baseline_mean"] * (1 - s["responder_pct"] / 100), color="tab:green", linestyle="--",
                linewidth=1, label="responder threshold")
    ax2.set_ylim(0, 10.5)
    ax2.set_ylabel("pain (0-10)", color="tab:red")
    ax.axvspan(_when(t["start_t_s"]), _when(t["end_t_s"]), color="tab:blue", alpha=0.05)
    ax.set_title("%s: %s" % (title, s["verdict"]), fontsize=9)
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as e:
        raise InputError("%s: cannot write (%s)" % (path, e.strerror)) from e
    finally:
        plt.close(fig)
