"""A newcomer's walkthrough (issue 16): every command in README.md and docs/*.md (the shell blocks and the commands
tables) run exactly as written, in document order, in a fresh copy of the repository (what `git clone` gives, with
the shared .venv, typings/ and node_modules/ linked in as after `make test`). A command that needs hardware (a serial
port, a BLE adapter or controller) must end in its one-line refusal with the documented exit code; a command that
runs until Ctrl-C is stopped with Ctrl-C once it is running. A command nobody classified must simply work (exit 0):
adding a README command that does not work fails this test.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from support import ROOT
DOCS = ["README.md"] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINKED = (".venv", "typings", "node_modules", "host_tests/wasm/node_modules")  # installed once, shared
RUN_TIMEOUT_S = 600

# How a command is run, first match wins: (pattern, mode, detail).
#   run: must exit 0.   refuse: (exit code, text of its one line).   serve: (text once running); then Ctrl-C.
#   make-n: a long or set-up run: the target must exist and its recipe expand (`make -n`), the run itself is
#   make test's (its parts, the set-up) or a developer's hour (the bench, mutants, ten simulated years).
#   external: another project's tool on real hardware (esptool, bluetoothctl): not run here.
NO_PORT = (2, "no such serial port")
MAKE_ERROR = re.compile(r"make(\[\d+\])?: \*\*\* ")  # make's own line after a recipe's refusal (make[1] when nested)
RULES = [
    (r"^make (test|install|deps|lint|typecheck|pytest|mpytest|wasmtest|hazards|emutest|armdeps|webdeps)\b", "make-n",
     None),
    (r"^make (bench|frozen-bench|mutants|soak)\b", "make-n", None),
    (r"^(esptool\.py|bluetoothctl)\b", "external", None),
    (r"^make -C micropython/", "external", None),  # MicroPython's own build, in its source tree (docs/emulator.md)
    (r"PORT=/dev/tty", "refuse", NO_PORT),
    (r"^make run( DAYS=[0-9]+)?$", "serve", "running rate"),
    (r"^make run DAYS=1 RX=", "serve", "running rate"),
    (r"^make dashboard$", "serve", "dashboard on http://127.0.0.1:8000/"),
    (r"--transport usb:0", "refuse", (3, "no controller on usb:0")),
    (r"^\.venv/bin/python -m tools\.telemetry\b(?! --sim)", "refuse", (4, "no Bluetooth stack")),  # --sim: runs
    (r"^\.venv/bin/python -m tools\.calibrate$", "refuse", (2, "calibrate: the input ended")),  # prompts: no terminal
    (r"^\.venv/bin/python -m tools\.programmer (send|refill|prime|bolus|suspend|resume|status)\b.*--device",
     "refuse", (None, "programmer: ")),
    (r"^\.venv/bin/python -m tools\.programmer .*--port /dev/tty", "refuse", (4, "programmer: /dev/tty")),
]


def doc_commands():
    """(file, command) in document order: every line of the ```sh blocks and the first cell of a table row that is
    a command (`make ...`, `.venv/bin/python ...`, `python ...`)."""
    out = []
    for path in DOCS:
        text = open(os.path.join(ROOT, path)).read()
        name = os.path.relpath(os.path.join(ROOT, path), ROOT)
        spans = []
        for m in re.finditer(r"```(sh|bash)\n(.*?)```", text, re.S):
            for line in m.group(2).splitlines():
                cmd = re.split(r"\s+#", line)[0].strip()
                if cmd and not cmd.startswith("#"):
                    spans.append((m.start(), len(spans), cmd))
        for m in re.finditer(r"^\| `([^`]+)`", text, re.M):
            if re.match(r"(make|\.venv/bin/python|python3?) ", m.group(1)):
                spans.append((m.start(), 0, m.group(1)))
        out += [(name, cmd) for _, _, cmd in sorted(spans)]
    return out


def rule(cmd):
    for pattern, mode, detail in RULES:
        if re.search(pattern, cmd):
            return mode, detail
    return "run", None


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """The repository as a clone has it (tracked and new files, their times kept so make's stamps hold), with the
    installed tools linked in."""
    dest = tmp_path_factory.mktemp("clone") / "pump"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for rel in files:
        src = os.path.join(ROOT, rel)
        if rel in LINKED or not os.path.isfile(src) or os.path.islink(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel))
    for rel in LINKED:
        if os.path.exists(os.path.join(ROOT, rel)):
            os.symlink(os.path.realpath(os.path.join(ROOT, rel)), os.path.join(dest, rel))
    return str(dest)


# a user's shell: not inside the make that may run this test (its MAKELEVEL would make `make` print its directories)
_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES")}


def _shell(cmd, cwd, **kw):
    return subprocess.Popen(["bash", "-c", cmd], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True, env=_ENV, **kw)


def _serve(cmd, cwd, ready):
    """Start `cmd`, wait for `ready` in its output, then Ctrl-C (SIGINT to its process group, as a terminal does)."""
    p = _shell(cmd, cwd)
    seen = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            seen.append(line)
            if ready in line:
                os.killpg(p.pid, signal.SIGINT)
                break
        rest, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    return p.returncode, "".join(seen) + rest


def _run(cmd, cwd):
    p = _shell(cmd, cwd)
    try:
        out, _ = p.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return None, out
    return p.returncode, out


def test_the_docs_have_commands_and_each_rule_is_used():
    cmds = [c for _, c in doc_commands()]
    assert len(cmds) >= 30 and "make run" in cmds and "make test" in cmds
    for pattern, _mode, _detail in RULES:  # a rule no command needs any more is dead weight: remove it
        assert any(re.search(pattern, c) for c in cmds), pattern


def test_every_documented_command_works_as_written(clone):
    failures = []
    done = set()
    for doc, cmd in doc_commands():
        if cmd in done:  # once each: a second `make keys` is refused, as it should be (keys are never overwritten)
            continue
        done.add(cmd)
        mode, detail = rule(cmd)
        if mode == "external":
            continue
        if mode == "make-n":
            code, out = _run("make -n " + cmd[len("make "):], clone)
            if code != 0:
                failures.append("%s: `%s`: no such make target or recipe: %s" % (doc, cmd, out.strip()[-300:]))
            continue
        if mode == "serve":
            code, out = _serve(cmd, clone, detail)
            if detail not in out or "Traceback" in out or "Error" in out:
                failures.append("%s: `%s` (then Ctrl-C): exit %s: %s" % (doc, cmd, code, out.strip()[-400:]))
            continue
        code, out = _run(cmd, clone)
        if "Traceback" in out:
            failures.append("%s: `%s`: a traceback: %s" % (doc, cmd, out.strip()[-400:]))
        elif mode == "run" and code != 0:
            failures.append("%s: `%s`: exit %s: %s" % (doc, cmd, code, out.strip()[-400:]))
        elif mode == "refuse":
            want_code, text = detail
            last = [line for line in out.splitlines() if line.strip() and not MAKE_ERROR.match(line)][-1:]
            if (want_code is not None and code != want_code) or code == 0 or not last or text not in last[0]:
                failures.append("%s: `%s`: not the one-line refusal (%r, exit %s): exit %s: %s" % (
                    doc, cmd, text, want_code, code, out.strip()[-400:]))
    assert not failures, "\n".join(failures)
