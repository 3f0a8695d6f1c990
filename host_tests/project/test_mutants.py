"""verify/mutants.py's map from modules to tests, derived from the tests' imports: every module `make mutants` runs on
has tests, the THROUGH exceptions name only tests the imports cannot show, and the derivation itself on a small tree."""

import subprocess

from support import ROOT
from verify import mutants


def _mutant_modules():
    proc = subprocess.run(["make", "-s", "--no-print-directory", "print-MUTANT_MODULES"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return proc.stdout.split()


def test_every_module_under_mutation_has_tests_that_exist():
    modules = _mutant_modules()
    assert len(modules) >= 19
    for path in modules:
        tests = mutants.tests_for(path)
        assert tests, path
        for t in tests:
            assert (mutants.ROOT / t).is_file(), (path, t)


def test_each_exception_names_a_test_whose_imports_do_not_show_the_module():
    for name, tests in mutants.THROUGH.items():
        assert (mutants.ROOT / "lib" / (name.replace(".", "/") + ".py")).is_file(), name
        for t in tests:
            assert (mutants.ROOT / t).is_file(), t
            assert name not in mutants.imported(mutants.ROOT / t), "%s imports %s: take it out of THROUGH" % (t, name)


def test_the_map_follows_the_imports(tmp_path):
    files = {
        "host_tests/safety/test_a.py": "from pump import stall\n",
        "host_tests/safety/test_b.py": "import pump.stall as s\n",
        "host_tests/safety/test_c.py": "from pump.stall import StallCheck\n",
        "host_tests/safety/test_d.py": "from pump.stallx import y\nfrom pump import safety\n",
        "host_tests/ble/test_e.py": "from pump import stall\nfrom support.blerig import run\n",
        "host_tests/support/rig.py": "from pump import stall\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = mutants.tests_for("lib/pump/stall.py", root=tmp_path, through={})
    assert found == ["host_tests/safety/test_a.py", "host_tests/safety/test_b.py", "host_tests/safety/test_c.py"]
    through = {"pump.stall": ["host_tests/safety/test_d.py"]}
    assert mutants.tests_for("lib/pump/stall.py", root=tmp_path, through=through)[-1] == "host_tests/safety/test_d.py"
    try:
        mutants.tests_for("lib/pump/alarms.py", root=tmp_path, through={})
    except SystemExit as e:
        assert "no test imports pump.alarms" in str(e)
    else:
        raise AssertionError("a module without tests must stop the run")
