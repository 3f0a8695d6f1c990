"""The import rules of docs/architecture.md, read from the source with `ast`, and the lists that must name every
firmware file. Each rule is also shown failing on a small synthetic tree, so a rule that could never fire is caught.

lib/pump imports only lib/pump and the modules MicroPython and CPython share (`micropython` itself only in compat);
board/, boot.py and main.py import lib/pump, board and MicroPython's modules, never tools, tests or verify/; tools/
never imports host_tests or verify/; verify/ no host_tests but the support listed in VERIFY_TEST_SUPPORT; the BLE
service computes no doses: its modules import no dose module, and the dose and check modules import no BLE module.
No test module imports another: what tests share is in host_tests/support/. No module but tools/__init__.py edits
sys.path. pyright's file lists in the Makefile name every firmware file.
"""

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # host_tests/<subject>/test_x.py

# modules MicroPython and CPython both have that lib/pump uses; `micropython` is reached only through pump.compat
COMMON = {"asyncio", "uasyncio", "binascii", "gc", "hashlib", "json", "struct", "sys"}
# what a board module, boot.py and main.py may import besides pump.* and board.*: MicroPython's own modules
MICROPYTHON = COMMON | {"bluetooth", "cryptolib", "esp32", "machine", "math", "micropython", "network", "os", "rp2",
                        "select", "time", "typing"}

# lib/pump's modules by the flow they belong to (docs/architecture.md has the same table; a test compares them)
GROUPS = {
    "dose": {"therapy", "prescription", "druglib", "units", "calendar", "config", "doseplan", "steptimer", "catheter",
             "phases", "bolus", "monoclock", "reservoir", "dosing", "controller", "limits", "checkpoint", "stored",
             "trial", "screening", "trialcmds", "reconcile"},
    "checks": {"safety", "occlusion", "overdelivery", "sensorfault", "stall", "battery", "alarms", "supervisor",
               "refillcheck", "forecast"},
    "ble": {"bleservice", "gatt", "outbox", "blehistory", "blesecrets", "cmdauth", "commands", "frames", "hmac", "racp",
            "telemetry", "wire", "wired", "session", "seal", "aesctr", "sha256", "blesession"},
    "shared": {"__init__", "compat", "errors", "events", "eventlog", "store", "jsonfile", "state"},
    "shell": {"app", "status", "button"},
}
# what the BLE modules may import from lib/pump besides each other: the shared modules, alarm codes and texts (the
# alarm frame), the battery model's percent (the battery level); from therapy its mode numbers, nothing else
BLE_MAY_IMPORT = GROUPS["ble"] | GROUPS["shared"] | {"alarms", "battery"}
BLE_THERAPY_NAMES = re.compile(r"MODE_[A-Z_]+$")
# host_tests modules verify/ may import (module: why); each one must be in use, so none outlives its reason
VERIFY_TEST_SUPPORT: dict = {}  # none today: the fake radio the bench's BLE probes use is a board/sim role

FIRMWARE_RULE = "imports only pump.*, board.* and MicroPython's modules"


def _py_files(root, *parts):
    base = root.joinpath(*parts)
    return sorted(p for p in base.rglob("*.py") if "node_modules" not in p.parts) if base.is_dir() else []


def _dotted(path, base):
    rel = path.relative_to(base).with_suffix("")
    names = list(rel.parts)
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def known_modules(root):
    """Every module of the project by the name it is imported as: pump.* (lib/), board/tools/verify (the root) and
    the test support (host_tests/ is on the tests' path)."""
    known = {_dotted(p, root / "lib") for p in _py_files(root, "lib")}
    for top in ("board", "tools", "verify"):
        known |= {_dotted(p, root) for p in _py_files(root, top)}
    known |= {_dotted(p, root / "host_tests") for p in _py_files(root, "host_tests")}
    return known


def host_tests_names(root):
    """The top-level names host_tests/ provides (support, the subject packages, mpy_run, ...), and host_tests itself."""
    base = root / "host_tests"
    names = {"host_tests"}
    for p in base.iterdir() if base.is_dir() else ():
        if p.suffix == ".py":
            names.add(p.stem)
        elif p.is_dir() and p.name not in ("node_modules", "__pycache__"):
            names.add(p.name)
    return names


def imports(path, module, known):
    """[(line, target, names)] for every import in the file: target is the module imported (`from pump import racp`
    imports pump.racp; `from pump import VERSION` imports pump), names what was taken from it (None: the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = "%s.%s" % (base, a.name)
                out.append((node.lineno, sub, None) if sub in known else (node.lineno, base, (a.name,)))
    return out


def edits_sys_path(path):
    """Line numbers where the file touches sys.path (sys.path.insert, sys.path[:] = ..., ...)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "path"
            and isinstance(n.value, ast.Name) and n.value.id == "sys"]


def _lib_rule(rel, target):
    top = target.split(".")[0]
    if top == "micropython":
        return None if rel == "lib/pump/compat.py" else "imports micropython: only through pump.compat"
    if top == "pump" or top in COMMON:
        return None
    return "imports %s: lib/pump imports only pump.* and the modules MicroPython and CPython share" % target


def _flow_rule(rel, target, names):
    """The BLE service computes no doses: BLE modules import no dose module; dose and check modules no BLE one."""
    me, parts = Path(rel).stem, target.split(".")
    if parts[0] != "pump" or len(parts) < 2:
        return None
    other = parts[1]
    if me in GROUPS["ble"] and other not in BLE_MAY_IMPORT:
        if other == "therapy" and names and all(BLE_THERAPY_NAMES.match(n) for n in names):
            return None
        return "imports %s: the BLE service computes no doses (docs/architecture.md, BLE_MAY_IMPORT)" % (
            target if names is None else "%s.%s" % (target, ", ".join(names)))
    if (me in GROUPS["dose"] or me in GROUPS["checks"]) and other in GROUPS["ble"] | GROUPS["shell"]:
        return "imports %s: the dose plan and the checks read nothing from the BLE service or the shell" % target
    return None


def violations(root, used_support=None):
    """Every import or sys.path edit of the tree at `root` that breaks docs/architecture.md's rules, as
    'file:line: what'. `used_support` (a set) collects the VERIFY_TEST_SUPPORT entries in use."""
    known = known_modules(root)
    support = host_tests_names(root)
    out = []

    def say(path, line, what):
        out.append("%s:%d: %s" % (path.relative_to(root).as_posix(), line, what))

    lib = [(p, _dotted(p, root / "lib")) for p in _py_files(root, "lib", "pump")]
    firmware = [(p, _dotted(p, root)) for p in _py_files(root, "board") if p.name != "manifest.py"]
    firmware += [(root / n, n[:-3]) for n in ("boot.py", "main.py") if (root / n).exists()]
    tools = [(p, _dotted(p, root)) for p in _py_files(root, "tools")]
    verify = [(p, _dotted(p, root)) for p in _py_files(root, "verify")]
    tests = [(p, _dotted(p, root / "host_tests")) for p in _py_files(root, "host_tests")]
    for path, module in lib:
        rel = path.relative_to(root).as_posix()
        for line, target, names in imports(path, module, known):
            for why in (_lib_rule(rel, target), _flow_rule(rel, target, names)):
                if why:
                    say(path, line, why)
    for path, module in firmware:
        for line, target, _names in imports(path, module, known):
            if target.split(".")[0] not in MICROPYTHON | {"pump", "board"}:
                say(path, line, "imports %s: board/, boot.py and main.py %s" % (target, FIRMWARE_RULE))
    for path, module in tools:
        for line, target, _names in imports(path, module, known):
            top = target.split(".")[0]
            if top in support or top == "verify":
                say(path, line, "imports %s: tools/ imports neither host_tests nor verify/" % target)
    for path, module in verify:
        for line, target, _names in imports(path, module, known):
            if target in VERIFY_TEST_SUPPORT:
                if used_support is not None:
                    used_support.add(target)
            elif target.split(".")[0] in support:
                say(path, line, "imports %s: verify/ imports no host_tests module (VERIFY_TEST_SUPPORT)" % target)
    for path, module in tests:
        for line, target, _names in imports(path, module, known):
            if target in known and target.rpartition(".")[2].startswith("test_") and target.split(".")[0] in support:
                say(path, line, "imports %s: no test module imports another; shared helpers go in host_tests/support/"
                    % target)
    for path, _module in lib + firmware + tools + verify:
        if path != root / "tools" / "__init__.py":
            for line in edits_sys_path(path):
                say(path, line, "sys.path: only tools/__init__.py puts lib/ on the path")
    return out


# ---- the repository ---------------------------------------------------------------------------------------------
def test_the_repository_keeps_every_import_rule():
    used = set()
    assert violations(ROOT, used) == []
    assert used == set(VERIFY_TEST_SUPPORT), "an exception no module needs any more: take it out"


def test_every_lib_pump_module_belongs_to_one_flow():
    modules = {p.stem for p in (ROOT / "lib" / "pump").glob("*.py")}
    grouped = [m for group in GROUPS.values() for m in group]
    assert len(grouped) == len(set(grouped)), "a module in two groups"
    assert set(grouped) == modules, "place each new lib/pump module in GROUPS and docs/architecture.md"


def test_the_architecture_doc_lists_the_same_groups():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    doc = {}
    for group, cell in re.findall(r"^\| (dose|checks|ble|shared|shell) \| ([^|]+) \|", text, re.M):
        doc[group] = set(re.findall(r"`([a-z_0-9]+)`", cell))
    assert doc == GROUPS


# ---- each rule fires --------------------------------------------------------------------------------------------
_SYNTHETIC = {
    "lib/pump/__init__.py": "",
    "lib/pump/compat.py": "import micropython\nimport struct\n",
    "lib/pump/therapy.py": "",
    "lib/pump/doseplan.py": "import machine\nfrom . import bleservice\nfrom pump.compat import const\n",
    "lib/pump/bleservice.py": "from pump.therapy import MODE_STOPPED\nfrom pump.therapy import parse_prescription\n"
                              "from pump import doseplan, frames\n",
    "lib/pump/frames.py": "import micropython\n",
    "board/__init__.py": "import machine\nfrom pump.compat import const\nfrom tools.sim import sim\n",
    "main.py": "import board\nimport support\n",
    "tools/__init__.py": "import sys\nsys.path.insert(0, 'lib')\n",
    "tools/sim/__init__.py": "",
    "tools/sim/sim.py": "import bumble\nfrom support import ble\nfrom verify import soak\nimport sys\n"
                        "sys.path[:] = []\n",
    "verify/__init__.py": "import tools\n",
    "verify/soak.py": "from support import ble\nimport support\nfrom tools.sim import sim\n",
    "host_tests/support/__init__.py": "",
    "host_tests/support/ble.py": "",
    "host_tests/support/rig.py": "from dosing.test_plan import drive\n",
    "host_tests/dosing/__init__.py": "",
    "host_tests/dosing/test_plan.py": "from support.ble import radio\nfrom dosing import test_steps\n",
    "host_tests/dosing/test_steps.py": "from support.rig import Rig\n",
    "host_tests/safety/__init__.py": "",
    "host_tests/safety/test_latch.py": "from dosing.test_plan import drive\nimport dosing.test_steps\n",
}


@pytest.fixture
def tree(tmp_path):
    for rel, text in _SYNTHETIC.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_each_rule_fires_on_a_synthetic_tree(tree):
    used = set()
    found = violations(tree, used)
    assert [v.split(": ")[0] + ": " + v.split(": ")[1] for v in found] == [
        "lib/pump/bleservice.py:2: imports pump.therapy.parse_prescription",
        "lib/pump/bleservice.py:3: imports pump.doseplan",
        "lib/pump/doseplan.py:1: imports machine",
        "lib/pump/doseplan.py:2: imports pump.bleservice",
        "lib/pump/frames.py:1: imports micropython",
        "board/__init__.py:3: imports tools.sim.sim",
        "main.py:2: imports support",
        "tools/sim/sim.py:2: imports support.ble",
        "tools/sim/sim.py:3: imports verify.soak",
        "verify/soak.py:1: imports support.ble",
        "verify/soak.py:2: imports support",
        "host_tests/dosing/test_plan.py:2: imports dosing.test_steps",
        "host_tests/safety/test_latch.py:1: imports dosing.test_plan",
        "host_tests/safety/test_latch.py:2: imports dosing.test_steps",
        "host_tests/support/rig.py:1: imports dosing.test_plan",
        "tools/sim/sim.py:5: sys.path",
    ]
    assert used == set()
    assert "the BLE service computes no doses" in found[0] and "only through pump.compat" in found[4]
    assert "shared helpers go in host_tests/support/" in found[-2]


# ---- pyright's lists --------------------------------------------------------------------------------------------
_BOARD_LISTS = {"pico_w": "RP2_TYPED", "esp32_devkit": "ESP32_TYPED"}


def make_variable(name):
    proc = subprocess.run(["make", "-s", "--no-print-directory", "print-" + name], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return proc.stdout.split()


def firmware_files(root):
    """What pyright must check: lib/pump, board/ (its freeze manifest is MicroPython's build input, not code the
    board runs), boot.py and main.py."""
    files = _py_files(root, "lib", "pump") + [p for p in _py_files(root, "board") if p.name != "manifest.py"]
    files += [root / n for n in ("boot.py", "main.py") if (root / n).exists()]
    return [p.relative_to(root).as_posix() for p in files]


def unlisted(root, lists):
    """Problems with the per-board lists {board: [paths]}: a listed path that is missing, a firmware file a board's
    list leaves out (each board module only in its own board's list)."""
    problems = ["%s lists %s, which does not exist" % (b, e) for b, entries in lists.items() for e in entries
                if not (root / e).exists()]
    for f in firmware_files(root):
        for board, entries in lists.items():
            own = f.startswith("board/") and Path(f).stem in lists
            wanted = not own or Path(f).stem == board
            covered = any(f == e or f.startswith(e.rstrip("/") + "/") for e in entries)
            if wanted != covered:
                problems.append("%s %s %s" % (board, "does not check" if wanted else "must not check", f))
    return problems


def test_pyright_checks_every_firmware_file_against_its_boards_stubs():
    lists = {board: make_variable(var) for board, var in _BOARD_LISTS.items()}
    assert all(lists.values())
    assert unlisted(ROOT, lists) == []


def test_a_moved_or_unlisted_firmware_file_is_caught(tree):
    (tree / "board" / "pico_w.py").write_text("import rp2\n")
    (tree / "board" / "esp32_devkit.py").write_text("import esp32\n")
    (tree / "board" / "sim").mkdir()
    (tree / "board" / "sim" / "__init__.py").write_text("")  # board/sim.py became a package
    lists = {"pico_w": ["lib/pump", "board/__init__.py", "board/sim.py", "board/pico_w.py", "main.py"],
             "esp32_devkit": ["lib/pump", "board/__init__.py", "board/esp32_devkit.py", "board/pico_w.py", "main.py"]}
    assert unlisted(tree, lists) == [
        "pico_w lists board/sim.py, which does not exist",
        "esp32_devkit must not check board/pico_w.py",
        "pico_w does not check board/sim/__init__.py",
        "esp32_devkit does not check board/sim/__init__.py",
    ]


# ---- lib/pump reads every role directly; no module outgrows one concern -----------------------------------------
MAX_LINES = 400
_PROBING = re.compile(r"(getattr|hasattr)\((self\.|p\.|pump\.)?hw\b")  # a role the hardware object might lack


def test_the_logic_reads_roles_directly_and_no_module_outgrows_one_concern():
    for path in _py_files(ROOT, "lib", "pump"):
        text = path.read_text(encoding="utf-8")
        assert not _PROBING.search(text), "%s probes the hardware object for a role" % path.relative_to(ROOT)
        n = text.count("\n")
        assert n <= MAX_LINES, "%s: %d lines, split it by concern" % (path.relative_to(ROOT), n)
    assert _PROBING.search('x = getattr(hw, "encoder", None)') and _PROBING.search("hasattr(self.hw, 'led')")


# ---- host_tests by subject ----------------------------------------------------------------------------------------
def test_tests_live_in_subject_folders_with_unique_names_and_a_readable_micropython_marker():
    import mpy_run

    base = ROOT / "host_tests"
    assert not list(base.glob("test_*.py")) and not list((base / "support").glob("test_*.py"))
    tests = sorted(base.glob("*/test_*.py"))
    names = [p.stem for p in tests]
    assert len(names) == len(set(names)), "two test modules share a name: mpy_run.py and -k name them alone"
    marked = []
    for p in tests:
        assert (p.parent / "__init__.py").is_file(), p
        said = "\nRUNS_ON_MICROPYTHON = True" in p.read_text(encoding="utf-8")
        assert mpy_run._marked(str(p)) == said, "%s: the marker goes with the imports, before any definition" % p
        if said:
            marked.append(p.stem)
    assert sorted(mpy_run._discover(str(base))) == sorted(marked) and len(marked) >= 41
