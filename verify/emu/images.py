"""Where the emulator's inputs come from: the MicroPython .uf2 and the RP2040 boot ROM, Node and rp2040js.

The image and boot ROM sit in `../shared/rp2/` beside the repository (as CI lays it out; beside the main checkout for
a git worktree), or in the folder named by PUMP_RP2_DIR; PUMP_RP2_UF2 names another image (a build with the firmware
frozen in, the official download).
Each lookup fails with one line saying what is missing and how to get it.
"""

import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "verify", "emu", "runner.mjs")
DIR_ENV = "PUMP_RP2_DIR"
UF2_ENV = "PUMP_RP2_UF2"
DEFAULT_DIR = os.path.join(os.path.dirname(ROOT), "shared", "rp2")


def _main_checkout_dir(root=ROOT):
    """`../shared/rp2/` beside the main checkout when `root` is a git worktree of it (its .git is a file naming
    <main>/.git/worktrees/<name>), else None."""
    try:
        with open(os.path.join(root, ".git")) as f:
            gitdir = f.read().strip().partition("gitdir:")[2].strip()
    except OSError:  # a directory (the main checkout itself) or none
        return None
    main, sep, _ = gitdir.partition(os.sep + ".git" + os.sep + "worktrees" + os.sep)
    return os.path.join(os.path.dirname(main), "shared", "rp2") if sep else None
UF2_NAME = "micropython-v1.27.0-RPI_PICO.uf2"
SOURCE_NAME = "micropython-v1.27.0-rp2-src.tar.xz"  # the tree that built it: for images with the firmware frozen in
BOOTROM_NAME = "rp2040-bootrom-b1.bin"
NPM_PACKAGES = ("rp2040js", "uf2")

HOW_TO_GET = (
    "put %s (the official RPI_PICO v1.27.0 image, or built from source as docs/emulator.md says) and %s "
    "(the RP2040 B1 boot ROM: raspberrypi/pico-bootrom, as rp2040js ships it in demo/bootrom.ts) in %s, "
    "or set %s to their folder" % (UF2_NAME, BOOTROM_NAME, DEFAULT_DIR, DIR_ENV))


class ImageMissing(Exception):
    """The firmware image, the boot ROM, Node or the npm packages are not there (the message says how to get them)."""


class Images:
    """Paths of the .uf2 image and the boot ROM."""

    def __init__(self, uf2, bootrom):
        self.uf2 = uf2
        self.bootrom = bootrom

    def __repr__(self):
        return "Images(uf2=%r, bootrom=%r)" % (self.uf2, self.bootrom)


def _folder(environ):
    folder = environ.get(DIR_ENV)
    if not folder:
        beside_main = _main_checkout_dir()
        use_main = beside_main and not os.path.isdir(DEFAULT_DIR) and os.path.isdir(beside_main)
        folder = beside_main if use_main else DEFAULT_DIR
    return folder


def find_source(environ=None):
    """The MicroPython source tarball beside the image; ImageMissing with one line if absent."""
    path = os.path.join(_folder(os.environ if environ is None else environ), SOURCE_NAME)
    if not os.path.isfile(path):
        raise ImageMissing("missing %s: micropython v1.27.0 with the submodules its tag records, as "
                           "../shared/rp2/README.md describes (or a clone: docs/emulator.md)" % path)
    return path


def find_images(environ=None):
    """Images from PUMP_RP2_DIR / PUMP_RP2_UF2 or ../shared/rp2/; ImageMissing with one line if absent."""
    environ = os.environ if environ is None else environ
    folder = _folder(environ)
    uf2 = environ.get(UF2_ENV) or os.path.join(folder, UF2_NAME)
    bootrom = os.path.join(folder, BOOTROM_NAME)
    missing = [p for p in (uf2, bootrom) if not os.path.isfile(p)]
    if missing:
        raise ImageMissing("missing %s: %s" % (" and ".join(missing), HOW_TO_GET))
    return Images(uf2, bootrom)


def find_node(environ=None):
    """The `node` executable, with rp2040js and uf2 installed in node_modules/; ImageMissing with one line if not."""
    environ = os.environ if environ is None else environ
    node = shutil.which(environ.get("NODE", "node"))
    if node is None:
        raise ImageMissing("no node on PATH: install Node.js 20 or newer (apt-get install nodejs npm), "
                           "then make webdeps")
    absent = [p for p in NPM_PACKAGES if not os.path.isfile(os.path.join(ROOT, "node_modules", p, "package.json"))]
    if absent:
        raise ImageMissing("npm package %s missing from node_modules/: run make webdeps" % " and ".join(absent))
    return node
