"""A MicroPython v1.27.0 RPI_PICO image with the pump firmware frozen in (board/manifest.py), built from the shared
source tarball (../shared/rp2/micropython-v1.27.0-rp2-src.tar.xz, whose README says how) for `make bench`'s figures.

    python -m verify.emu.frozen [--out build/rp2-frozen]      (or `make frozen-image`; needs `make armdeps`)

The tree is unpacked once into the output folder; the image is rebuilt only when a frozen source is newer than it
(make does the same check). Offline: PICO_NO_PICOTOOL=1, the .uf2 written by MicroPython's own uf2conv.py.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tarfile

from verify.emu import images

ROOT = images.ROOT
MANIFEST = os.path.join(ROOT, "board", "manifest.py")
DEFAULT_OUT = os.path.join(ROOT, "build", "rp2-frozen")
UF2_NAME = "firmware.uf2"
RP2040_FAMILY = "0xe48bff56"


def sources():
    """Every file the frozen image holds from this repository (the image is stale when one is newer)."""
    out = [MANIFEST]
    for folder in (os.path.join(ROOT, "lib", "pump"), os.path.join(ROOT, "board")):
        out += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py")]
    return out


def stale(uf2):
    if not os.path.isfile(uf2):
        return True
    built = os.path.getmtime(uf2)
    return any(os.path.getmtime(p) > built for p in sources())


def _run(cmd, cwd, log):
    print("frozen image: %s" % " ".join(cmd), flush=True)
    with open(log, "a") as f:
        done = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise RuntimeError("%s failed (exit %d): see %s" % (cmd[0], done.returncode, log))


def build(out=DEFAULT_OUT, jobs=2, environ=None):
    """Path of the frozen .uf2 in `out`, built if missing or stale; RuntimeError (one line) when it cannot be."""
    uf2 = os.path.join(out, UF2_NAME)
    if not stale(uf2):
        return uf2
    for tool in ("arm-none-eabi-gcc", "cmake", "make"):
        if shutil.which(tool) is None:
            raise RuntimeError("no %s on PATH: make armdeps (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi "
                               "libstdc++-arm-none-eabi-newlib cmake)" % tool)
    tarball = images.find_source(environ)
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "build.log")
    src = os.path.join(out, "micropython")
    if not os.path.isdir(os.path.join(src, "ports", "rp2")):
        print("frozen image: unpacking %s" % tarball, flush=True)
        with tarfile.open(tarball) as t:
            t.extractall(out, filter="data")
    _run(["make", "-C", "mpy-cross", "-j%d" % jobs], src, log)
    cmake_args = "-DPICO_NO_PICOTOOL=1 -DMICROPY_FROZEN_MANIFEST=%s" % MANIFEST
    _run(["make", "-C", "ports/rp2", "BOARD=RPI_PICO", "BUILD=build-pump", "-j%d" % jobs,
          "CMAKE_ARGS=" + cmake_args], src, log)
    binary = os.path.join(src, "ports", "rp2", "build-pump", "firmware.bin")
    _run([sys.executable, os.path.join(src, "tools", "uf2conv.py"), "-b", "0x10000000", "-f", RP2040_FAMILY, "-c",
          "-o", uf2, binary], src, log)
    return uf2


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m verify.emu.frozen", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="build folder (default: build/rp2-frozen)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        uf2 = build(args.out, args.jobs)
    except (RuntimeError, images.ImageMissing) as e:
        print("frozen image: %s" % e)
        return 2
    print("frozen image: %s (%d bytes)" % (uf2, os.path.getsize(uf2)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
