"""board/manifest.py, the freeze manifest, run on stand-ins of MicroPython's manifest functions: a board image holds
what `make mpy` deploys to the boards, the unix measurement image adds the simulated board's package (its fake radio
included) and nothing else host-only, and every project module a frozen module imports is frozen too (a module added
to board/ and not to the manifest fails)."""

import ast
from pathlib import Path

from tools.deploy import mpy_build

ROOT = Path(__file__).resolve().parents[2]  # host_tests/<subject>/test_x.py
MANIFEST = ROOT / "board" / "manifest.py"
_OWN_PACKAGES = ("pump", "board", "support", "tools")


class _Options:
    def __init__(self, given):
        self._given = given

    def defaults(self, **kw):
        for name, value in kw.items():
            self._given.setdefault(name, value)

    def __getattr__(self, name):
        return self._given[name]


def run_manifest(**options):
    """{frozen module path (pump/app.py): source file} and the other manifest entries (freeze, include) it made."""
    frozen = {}
    other = []
    here = MANIFEST.parent

    def package(name, files=None, base_path="."):
        base = (here / base_path).resolve()
        if files is None:
            files = [p.relative_to(base / name).as_posix() for p in sorted((base / name).rglob("*.py"))]
        for f in files:
            frozen["%s/%s" % (name, f)] = base / name / f

    env = {"options": _Options(dict(options)), "package": package,
           "freeze": lambda path, **kw: other.append(("freeze", path)),
           "include": lambda path, **kw: other.append(("include", path))}
    exec(compile(MANIFEST.read_text(), str(MANIFEST), "exec"), env)  # the project's own manifest
    return frozen, other


def _imports(path):
    """The project's modules `path` imports, as (module, *alternatives): `from pump import app` asks for pump.app or
    a name `app` in pump; `from pump.config import PumpConfig` for pump.config."""
    wanted = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            wanted.update((a.name,) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            wanted.update((node.module, "%s.%s" % (node.module, a.name)) for a in node.names)
    return {w for w in wanted if w[0].split(".")[0] in _OWN_PACKAGES}


def _unresolved(frozen):
    """{frozen file: [project modules it imports that are not frozen]}"""
    modules = {p[:-len("/__init__.py")] if p.endswith("/__init__.py") else p[:-3] for p in frozen}
    modules = {m.replace("/", ".") for m in modules}
    missing = {}
    for path, src in frozen.items():
        for want in sorted(_imports(src)):
            if not modules.intersection(want):
                missing.setdefault(path, []).append(want[0])
    return missing


def test_board_image_freezes_what_the_boards_are_deployed():
    frozen, other = run_manifest()
    for path, src in frozen.items():
        assert src.is_file(), path
    deployed = set()
    for board in mpy_build.BOARDS:
        deployed.update(p.relative_to("lib").as_posix() if p.parts[0] == "lib" else p.as_posix()
                        for p in mpy_build.board_sources(board))
    assert set(frozen) == deployed
    assert any(p.startswith("pump/") for p in frozen) and "board/__init__.py" in frozen
    # a FROZEN_MANIFEST replaces the port's: its modules (the filesystem mount) and asyncio come from here
    assert ("freeze", "$(PORT_DIR)/modules") in other
    assert ("include", "$(MPY_DIR)/extmod/asyncio") in other


def test_every_project_import_of_a_frozen_module_is_frozen():
    for options in ({}, {"port": False, "sim": True}):
        frozen, _other = run_manifest(**options)
        assert _unresolved(frozen) == {}, options


def test_unix_measurement_image_adds_the_sim_board_package_only():
    board, _ = run_manifest()
    unix, other = run_manifest(port=False, sim=True)
    assert ("freeze", "$(PORT_DIR)/modules") not in other
    sim_package = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "board" / "sim").glob("*.py"))
    assert sorted(set(unix) - set(board)) == sim_package  # every module of it, and no test or tool
    assert "board/sim/radio.py" in sim_package
    for src in unix.values():
        assert src.is_file(), src


def test_the_drift_check_catches_a_module_left_out():
    frozen, _other = run_manifest(port=False, sim=True)
    del frozen["board/sim/flash.py"]
    assert _unresolved(frozen) == {"board/sim/hardware.py": ["board.sim.flash"]}
