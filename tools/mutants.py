"""Mutation testing of the safety-critical modules (mutmut): stage, run each module on its tests, score, survivors.

    python -m tools.mutants run [--max-children N] [--keep [--only PATTERN]...] [--retry] lib/pump/x.py ...
    python -m tools.mutants report lib/pump/x.py ...
    python -m tools.mutants show lib/pump/x.py MUTANT_NAME

Each module runs in its own staging folder, out/mutmut/<module>/ (mutmut names mutants by module path, e.g.
`pump.stall.xǁStallCheckǁsteps__mutmut_3`, and imports what it mutates from `mutants/src/`): `src` is the repo's lib/,
host_tests, board, tools, docs, boot.py and main.py are the repo's. mutmut copies them into `mutants/`, mutates the one
module, records which of the module's tests call each function, and runs every mutant against those tests only. A
module's tests are host_tests/pure/test_<name>.py and host_tests/test_<name>*.py, plus the files EXTRA_TESTS adds
(tests that drive it through another module), less the long-horizon ones in DESELECTED. `run` starts each module
afresh unless --keep (then mutants of unchanged functions keep their result; --only re-runs the mutants matching a
pattern such as 'pump.stall.*'; --retry re-runs the mutants the last run did not kill).

The report prints a table and writes out/mutants.json: per module the mutants killed (a test failed, or it ran out
of time), survived (no test failed, or no test ran it), equivalent, and the score = killed / (all - equivalent).
Equivalent mutants are the rows of docs/mutation.md's table (name, mutated line, reason): a listed mutant whose
mutated line no longer matches (its function changed) counts as a survivor again until it is reviewed.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ROOT / "out" / "mutmut"
DOC = ROOT / "docs" / "mutation.md"
REPORT = ROOT / "out" / "mutants.json"
MUTMUT = Path(sys.executable).parent / "mutmut"

# what the tests read besides lib/ (the staging folder links to them; mutmut copies them as they are)
COPIED = ("host_tests", "board", "tools", "docs", "boot.py", "main.py")

# test files that exercise a module besides its own (pure/test_<name>.py, test_<name>*.py)
EXTRA_TESTS = {
    "pump.steptimer": ["host_tests/pure/test_doseplan.py", "host_tests/test_doseplan_props.py"],
    "pump.store": ["host_tests/pure/test_powercut.py"],
    "pump.safety": ["host_tests/pure/test_controller.py", "host_tests/pure/test_holds.py", "host_tests/test_sim.py"],
    # the command authentication: its own tests, then the service (frames, HMAC and counters over the fake radio)
    # and tools/pumpproto.py's vectors, which the host side and the firmware share
    "pump.cmdauth": ["host_tests/pure/test_ble_auth.py", "host_tests/pure/test_ble_service.py",
                     "host_tests/test_pumpproto.py"],
    "pump.hmac": ["host_tests/pure/test_ble_hmac.py", "host_tests/pure/test_ble_auth.py",
                  "host_tests/test_pumpproto.py", "host_tests/pure/test_session_crypto.py"],
    "pump.frames": ["host_tests/pure/test_ble_frames.py", "host_tests/pure/test_ble_service.py",
                    "host_tests/test_pumpproto.py"],
    "pump.commands": ["host_tests/pure/test_ble_commands.py", "host_tests/pure/test_ble_auth.py",
                      "host_tests/pure/test_ble_service.py",
                      "host_tests/test_ble_fuzz.py", "host_tests/test_pumpproto.py"],
    # the secure session: its own tests and the vectors both ends and the host reproduce
    "pump.seal": ["host_tests/pure/test_session.py", "host_tests/pure/test_session_vectors.py",
                  "host_tests/test_session_vectors.py"],
    "pump.session": ["host_tests/pure/test_session_vectors.py"],
    "pump.aesctr": ["host_tests/pure/test_session_crypto.py", "host_tests/pure/test_session_vectors.py"],
    "pump.sha256": ["host_tests/pure/test_session_crypto.py", "host_tests/pure/test_session_vectors.py"],
}

DESELECTED = (
    # long horizons (a simulated year, hypothesis over whole documents): seconds each even unmutated, far longer
    # through mutmut's trampolines; faster tests cover the same code and `make test` still runs these
    "host_tests/test_occlusion_targets.py::test_no_false_alarm_in_a_year",
    "host_tests/test_sim.py::test_example_scenarios_deliver_within_one_step_of_the_program",
    "host_tests/test_sim.py::test_plot_is_written",
    # 100 000 fuzzed frames (8 s unmutated), checked against a Reassembler of the same (mutated) module: the
    # authenticated-commands fuzz test and the refused-frame tests cover the same paths in a fraction of the time
    "host_tests/test_ble_fuzz.py::test_fuzzed_frames_are_answered_and_change_nothing",
    # the session fuzz (20 000 frames, 5-10 s unmutated): the refusal tests and the vectors cover the same checks
    "host_tests/test_session_fuzz.py::test_fuzzed_session_frames_are_refused_with_a_code_and_change_nothing",
    # runs `python -m tools.sim` in a child process, which imports the unmutated tree: it could never kill a mutant
    "host_tests/test_sim.py::test_cli_json_to_stdout_has_the_documented_keys",
)

KILLED = ("killed", "timeout", "segfault")
# mutmut's exit codes (mutmut.stats.status_by_exit_code): 0 survived, 1/3 a test failed, 5/33 no test runs it,
# 24/36/152/255/-24 out of CPU time, -9/-11 ended by a signal, 34 skipped, None not run yet
_STATUS = {0: "survived", 1: "killed", 3: "killed", 5: "no tests", 33: "no tests", 34: "skipped",
           36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
           -9: "segfault", -11: "segfault", None: "not checked"}


def module_name(path):
    """lib/pump/stall.py -> pump.stall (the name the tests import and mutmut records)."""
    parts = Path(path).with_suffix("").parts
    if len(parts) < 2 or parts[0] != "lib":
        raise SystemExit("not a module under lib/: %s" % path)
    return ".".join(parts[1:])


def tests_for(path):
    """The test files (repo-relative) that run a module's mutants."""
    name = module_name(path)
    short = name.rpartition(".")[2]
    found = []
    pure = ROOT / "host_tests" / "pure" / ("test_%s.py" % short)
    if pure.exists():
        found.append(pure.relative_to(ROOT).as_posix())
    found += sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "host_tests").glob("test_%s*.py" % short))
    for extra in EXTRA_TESTS.get(name, ()):
        if extra not in found:
            found.append(extra)
    if not found:
        raise SystemExit("no tests for %s: add host_tests/pure/test_%s.py or an EXTRA_TESTS entry" % (path, short))
    return found


def _staged(path):
    return "src/" + Path(path).relative_to("lib").as_posix()


def _stage_dir(path):
    return STAGES / module_name(path)


def _pyproject(path):
    sel = list(tests_for(path))
    for t in DESELECTED:
        if t.partition("::")[0] in sel:
            sel += ["--deselect", t]
    lines = [
        "# written by tools/mutants.py for mutmut: regenerated on every run",
        "[tool.pytest.ini_options]",
        'pythonpath = ["src", ".", "host_tests"]',
        'python_files = ["test_*.py"]',
        'python_functions = ["test_*"]',
        "xfail_strict = true",
        "",
        "[tool.mutmut]",
        'source_paths = ["src"]',
        "only_mutate = %s" % json.dumps([_staged(path)]),
        "also_copy = %s" % json.dumps(list(COPIED) + ["lib"]),
        "pytest_add_cli_args_test_selection = %s" % json.dumps(sel),
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]',
        "use_git_change_detection = false",
        "",
    ]
    return "\n".join(lines)


def stage(path, keep):
    """Build out/mutmut/<module>/: src -> lib/, the trees the tests read, lib/druglib.json, the config."""
    d = _stage_dir(path)
    if not keep and d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    for name, target in [("src", "lib")] + [(t, t) for t in COPIED]:
        link = d / name
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(ROOT / target, d))
    lib = d / "lib"  # tests and the simulated board read <root>/lib/druglib.json
    lib.mkdir(exist_ok=True)
    if not (lib / "druglib.json").is_symlink():
        (lib / "druglib.json").symlink_to(os.path.relpath(ROOT / "lib" / "druglib.json", lib))
    (d / "pyproject.toml").write_text(_pyproject(path))
    return d


def run(path, max_children, keep, only):
    """mutmut on one module; its output goes to out/mutmut/<module>.log, one summary line here."""
    d = stage(path, keep)
    cmd = [str(MUTMUT), "run", "--max-children", str(max_children)] + list(only)
    print("%s (%s) ..." % (path, ", ".join(t.rpartition("/")[2] for t in tests_for(path))), end=" ", flush=True)
    log = STAGES / (module_name(path) + ".log")
    with open(log, "w") as f:
        code = subprocess.call(cmd, cwd=d, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), stdout=f,
                               stderr=subprocess.STDOUT)
    if code:
        print("failed")
        print(log.read_text(errors="replace")[-3000:])
        raise SystemExit("mutmut exited with %d for %s (log: %s)" % (code, path, log.relative_to(ROOT)))
    res = results(path)
    print("%d mutants, %d killed" % (len(res), sum(1 for v in res.values() if v in KILLED)), flush=True)


# ---- results ------------------------------------------------------------------------------------------------------
def results(path):
    """{mutant name: status} from mutmut's record of one module (empty when it was never run)."""
    meta = _stage_dir(path) / "mutants" / (_staged(path) + ".meta")
    if not meta.exists():
        return {}
    data = json.loads(meta.read_text())
    return {k: _STATUS.get(v, "suspicious") for k, v in data.get("exit_code_by_key", {}).items()}


_DIFF_SCRIPT = """
import json, sys
import mutmut.__main__  # noqa: F401 - sets up mutmut as its command line does
from mutmut.mutation.diff_apply import get_diff_for_mutant
out = {}
for name, path in json.load(sys.stdin):
    out[name] = get_diff_for_mutant(name, path=path)
print(json.dumps(out))
"""


def diffs(path, names):
    """{mutant name: unified diff of its function}, computed by mutmut in the module's staging folder."""
    if not names:
        return {}
    proc = subprocess.run([sys.executable, "-c", _DIFF_SCRIPT], cwd=_stage_dir(path), capture_output=True, text=True,
                          input=json.dumps([[n, _staged(path)] for n in sorted(names)]), check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mutated_lines(diff):
    return [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]


_ROW = re.compile(r"^\|\s*`([^`]+__mutmut_\d+)`\s*\|\s*`(.*)`\s*\|\s*(.+?)\s*\|\s*$")


def equivalents(doc=DOC):
    """{mutant name: (mutated line, reason)} from the rows | `name` | `mutated line` | reason | of docs/mutation.md."""
    out = {}
    if doc.exists():
        for line in doc.read_text(encoding="utf-8").splitlines():
            m = _ROW.match(line)
            if m:
                out[m.group(1)] = (m.group(2).replace("\\|", "|"), m.group(3))
    return out


def _natural(name):
    head, _, num = name.rpartition("__mutmut_")
    return head, int(num) if num.isdigit() else 0


def summarize(path, res, eq_doc, diff_of):
    """One module's entry of out/mutants.json, and the names of listed equivalents whose line no longer matches."""
    killed = sum(1 for v in res.values() if v in KILLED)
    survivors, equivalent, stale = [], [], []
    not_checked = 0
    for name in sorted(res, key=_natural):
        status = res[name]
        if status in KILLED or status == "skipped":
            continue
        if status == "not checked":
            not_checked += 1
            continue
        diff = diff_of.get(name, "")
        entry = {"name": name, "status": status, "mutated": mutated_lines(diff), "diff": diff}
        eq = eq_doc.get(name)
        if eq is not None and eq[0] in entry["mutated"]:
            entry["reason"] = eq[1]
            equivalent.append(entry)
            continue
        if eq is not None:
            stale.append(name)
        survivors.append(entry)
    scored = len(res) - len(equivalent) - not_checked
    return {"mutants": len(res), "killed": killed, "survived": len(survivors), "equivalent": len(equivalent),
            "not_checked": not_checked, "score": round(100.0 * killed / scored, 1) if scored else None,
            "tests": tests_for(path), "survivors": survivors, "equivalents": equivalent}, stale


def report(paths, out_path=REPORT):
    eq_doc = equivalents()
    out = {"modules": {}, "stale_equivalents": []}
    total = {"mutants": 0, "killed": 0, "survived": 0, "equivalent": 0, "not_checked": 0}
    for path in paths:
        res = results(path)
        undetected = [k for k, v in res.items() if v not in KILLED and v not in ("skipped", "not checked")]
        entry, stale = summarize(path, res, eq_doc, diffs(path, undetected))
        out["modules"][path] = entry
        out["stale_equivalents"] += stale
        for k in total:
            total[k] += entry[k]
    scored = total["mutants"] - total["equivalent"] - total["not_checked"]
    total["score"] = round(100.0 * total["killed"] / scored, 1) if scored else None
    out["total"] = total
    print_table(out)
    for path in paths:
        for s in out["modules"][path]["survivors"]:
            print("survived %s: %s" % (s["name"], " / ".join(s["mutated"]) or s["status"]))
    for name in out["stale_equivalents"]:
        print("docs/mutation.md lists %s as equivalent, but its mutated line changed: review it" % name)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("wrote %s" % out_path.relative_to(ROOT))
    return out


def _fmt(score):
    return "-" if score is None else "%.1f %%" % score


def print_table(out):
    head = ("module", "mutants", "killed", "survived", "equivalent", "not run", "score")
    keys = ("mutants", "killed", "survived", "equivalent", "not_checked")
    rows = [(m,) + tuple(str(e[k]) for k in keys) + (_fmt(e["score"]),) for m, e in out["modules"].items()]
    t = out["total"]
    table = [head] + rows + [("all",) + tuple(str(t[k]) for k in keys) + (_fmt(t["score"]),)]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)))
        if i == 0 or i == len(table) - 2:
            print("  ".join("-" * w for w in widths))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.mutants", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="mutate each module, run its tests on every mutant, report")
    r.add_argument("--max-children", type=int, default=1, help="mutants run in parallel (the machine is shared)")
    r.add_argument("--keep", action="store_true", help="reuse out/mutmut/<module> (unchanged functions keep results)")
    r.add_argument("--only", action="append", default=[], help="with --keep: re-run the mutants matching it (repeat)")
    r.add_argument("--retry", action="store_true", help="with --keep: re-run the mutants the last run did not kill")
    r.add_argument("modules", nargs="+")
    p = sub.add_parser("report", help="table and out/mutants.json from the last runs")
    p.add_argument("modules", nargs="+")
    s = sub.add_parser("show", help="the diff of one mutant")
    s.add_argument("module")
    s.add_argument("name")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    if args.cmd == "show":
        print(diffs(args.module, [args.name]).get(args.name, ""))
        return 0
    paths = [Path(m).as_posix() for m in args.modules]
    for path in paths:
        if not (ROOT / path).is_file():
            raise SystemExit("no such module: %s" % path)
        tests_for(path)
    if args.cmd == "run":
        for path in paths:
            only = [o for o in args.only if o.startswith(module_name(path) + ".")]
            if args.retry:
                only += sorted(k for k, v in results(path).items() if v not in KILLED)
            if (args.only or args.retry) and not only:
                continue
            run(path, args.max_children, args.keep or args.retry, only)
            fresh = sorted(k for k, v in results(path).items() if v == "not checked")
            if fresh and (args.keep or args.retry):  # functions changed since the last run: their new mutants
                run(path, args.max_children, True, fresh)
    report(paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
