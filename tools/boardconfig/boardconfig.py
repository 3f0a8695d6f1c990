"""Host side of the board's config file (config.json): board defaults read from the board modules, load, check, save.

    python -m tools.boardconfig [--config config.json] [--board pico_w] show
    python -m tools.boardconfig [--config ...] [--board ...] set hw.pressure_adc=27 pump.catheter_volume_ul=120

`set` takes JSON values (27, null, "LED"), checks the whole file with the firmware's rules and writes it; `set
hw.KEY=default` removes an override. Exit code 2 names the bad key.

The format and its checks are the firmware's own (`board.parse_config`, `pump.config.PumpConfig`,
`board.drivers.merge_config`); this module only adds file handling and reads each board module's DEFAULT_PINS and
DEFAULT_SETTINGS from its source, since a board module imports `machine` and cannot be imported on a laptop.
"""

import argparse
import ast
import json
import os

import board
from board import drivers
from pump.errors import PumpError
from tools import ROOT
from tools.deploy.mpy_build import BOARDS

DEFAULT_PATH = os.path.join(ROOT, "config.json")  # git-ignored: calibration belongs to one physical pump


class ConfigError(Exception):
    """A config file that cannot be used: the message names the file and the key."""


def board_defaults(name):
    """(DEFAULT_PINS, DEFAULT_SETTINGS) of board module `name`, read from board/<name>.py without importing it."""
    found = _board_literals(name)
    return found["DEFAULT_PINS"], found["DEFAULT_SETTINGS"]


def pin_rules(name):
    """The PIN_RULES of board module `name` (board.drivers.check_pins), read from its source."""
    return _board_literals(name)["PIN_RULES"]


def _board_literals(name):
    if name not in BOARDS:
        raise ConfigError("board: %r is not one of %s" % (name, ", ".join(sorted(BOARDS))))
    with open(os.path.join(ROOT, "board", name + ".py")) as f:
        tree = ast.parse(f.read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("DEFAULT_PINS", "DEFAULT_SETTINGS", "PIN_RULES"):
                found[node.targets[0].id] = _literal(node.value)
    return found


def _literal(node):
    """A literal of a board module; `tuple(range(n))` and `tuple(range(n)) + (...)` too (PIN_RULES' GPIO lists)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) + _literal(node.right)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tuple"
            and len(node.args) == 1 and isinstance(node.args[0], ast.Call)
            and isinstance(node.args[0].func, ast.Name) and node.args[0].func.id == "range"):
        return tuple(range(*[ast.literal_eval(a) for a in node.args[0].args]))
    if isinstance(node, ast.Dict):
        return {ast.literal_eval(k): _literal(v) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)


def new_config(name):
    """An empty config for board `name`: the board's defaults and the default pump configuration."""
    board_defaults(name)  # checks the name
    return {"format": board.CONFIG_FORMAT, "board": name, "hw": {}, "pump": {}}


def check(doc, name=None, where="config.json"):
    """(name, merged pins+settings, pump dict), their numbers ints, of a config document; ConfigError naming `where`
    and the key.

    `name` is the board it must be for (None: the one the document names)."""
    if name is None:
        name = doc.get("board") if isinstance(doc, dict) else None
        if name not in BOARDS:
            raise ConfigError("%s: board: %r is not one of %s" % (where, name, ", ".join(sorted(BOARDS))))
    try:
        hw, pump = board.parse_config(doc, name, where)
        pins, settings = board_defaults(name)
        merged = drivers.merge_config(pins, settings, hw, "%s: hw" % where, pin_rules(name))
    except PumpError as e:
        raise ConfigError(e.detail) from e  # names the file and the key
    return name, merged, pump


def load(path=DEFAULT_PATH, name=None):
    """The checked config document in `path` (see check); ConfigError if missing, not JSON or malformed."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError as e:
        raise ConfigError("%s: no such file" % path) from e
    except OSError as e:
        raise ConfigError("%s: cannot read (%s)" % (path, e.strerror)) from e
    except ValueError as e:
        raise ConfigError("%s: not valid JSON (%s)" % (path, e)) from e
    check(doc, name, path)
    return doc


def load_or_new(path, name):
    """The config in `path` if the file exists (it must be for board `name`), else a new one for `name`."""
    if not os.path.exists(path):
        return new_config(name)
    return load(path, name)


def dumps(doc):
    """The file text: stable key order, one key per line, so a diff of two configs is readable."""
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def save(path, doc):
    """Check `doc`, then write it to `path` atomically (a temporary file renamed over the old one)."""
    check(doc, None, path)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(dumps(doc))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def set_value(doc, assignment):
    """Apply `part.key=value` (part: hw or pump; value JSON, or `default` to drop the key) to `doc` in place."""
    target, sep, text = assignment.partition("=")
    part, dot, key = target.partition(".")
    if not sep or not dot or part not in ("hw", "pump") or not key:
        raise ConfigError("%s: expected hw.KEY=VALUE or pump.KEY=VALUE" % assignment)
    section = doc.setdefault(part, {})
    if text == "default":
        section.pop(key, None)
        return
    try:
        section[key] = json.loads(text)
    except ValueError as e:
        raise ConfigError("%s: %r is not a JSON value (a number, null, true/false or \"text\")" % (target, text)) from e


def main(argv=None, say=print):
    ap = argparse.ArgumentParser(prog="python -m tools.boardconfig", description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=DEFAULT_PATH)
    ap.add_argument("--board", help="board of a new config file (pico_w, esp32_devkit)")
    ap.add_argument("command", choices=("show", "set"))
    ap.add_argument("assignments", nargs="*", metavar="PART.KEY=VALUE")
    args = ap.parse_args(argv)
    try:
        if os.path.exists(args.config):
            doc = load(args.config, args.board)
        elif args.board:
            doc = new_config(args.board)
        else:
            raise ConfigError("%s: no such file; give --board to create one" % args.config)
        if args.command == "set":
            for a in args.assignments:
                set_value(doc, a)
            save(args.config, doc)
        name, merged, pump = check(doc, None, args.config)
        from pump.config import PumpConfig

        say(dumps(doc).rstrip())
        say("# in effect on %s: %s" % (name, json.dumps(dict(merged, **PumpConfig(pump).to_doc()), sort_keys=True)))
    except ConfigError as e:
        say("boardconfig: %s" % e)
        return 2
    return 0

