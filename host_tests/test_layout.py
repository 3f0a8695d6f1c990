"""The layout holds: imports run one way (lib/pump imports nothing of the boards, tools or tests; board/ imports
lib/pump and the MicroPython ports' modules, never tools or tests; tools never import tests), lib/pump reads the
hardware object's roles directly (every board defines every role), and no lib/pump module outgrows one concern."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = {p.stem for p in (ROOT / "host_tests").iterdir() if p.suffix == ".py" or p.is_dir()} - {"__pycache__"}
PORT_MODULES = {"machine", "bluetooth", "rp2", "esp32", "network"}
MAX_LINES = 400


def _imported(path):
    """The top-level package of every module `path` imports (relative imports stay in their package)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def _files(folder):
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_firmware_logic_imports_no_board_tool_test_or_port_module():
    for path in _files("lib/pump"):
        bad = _imported(path) & ({"board", "tools"} | TESTS | PORT_MODULES)
        assert not bad, "%s imports %s" % (path.relative_to(ROOT), sorted(bad))


def test_the_boards_import_no_tool_or_test():
    for path in _files("board"):
        bad = _imported(path) & ({"tools"} | TESTS)
        assert not bad, "%s imports %s" % (path.relative_to(ROOT), sorted(bad))


def test_the_tools_import_no_test():
    for path in _files("tools"):
        bad = _imported(path) & TESTS
        assert not bad, "%s imports %s" % (path.relative_to(ROOT), sorted(bad))


def test_the_checks_see_a_backward_import():
    assert "fakes" in TESTS and "support" in TESTS and "pure" in TESTS
    tmp = ROOT / "out" / "layout_probe.py"
    tmp.parent.mkdir(exist_ok=True)
    tmp.write_text("from fakes import flash\nimport machine\nfrom tools.blehost import constants\n")
    try:
        assert _imported(tmp) == {"fakes", "machine", "tools"}
    finally:
        tmp.unlink()


def test_the_logic_reads_roles_directly_and_no_module_outgrows_one_concern():
    probing = re.compile(r"(getattr|hasattr)\((self\.|p\.|pump\.)?hw\b")  # a role the hardware object may lack
    for path in _files("lib/pump"):
        text = path.read_text()
        assert not probing.search(text), "%s probes the hardware object for a role" % path.relative_to(ROOT)
        n = text.count("\n")
        assert n <= MAX_LINES, "%s: %d lines, split it by concern" % (path.relative_to(ROOT), n)
    assert probing.search('x = getattr(hw, "encoder", None)') and probing.search("hasattr(self.hw, 'led')")
