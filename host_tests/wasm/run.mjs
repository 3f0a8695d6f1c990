// Runs the MicroPython set of host_tests (RUNS_ON_MICROPYTHON = True) on a 32-bit MicroPython: the WebAssembly port (pinned in package.json) under Node.
//
//     node host_tests/wasm/run.mjs [--heapsize BYTES] [mpy_run.py arguments: -v, -k SUBSTRING, test_module ...]
//     node host_tests/wasm/run.mjs --script FILE [--heapsize BYTES] [-- ARGS]   (any Python file, argv = ARGS)
//
// The unix port is 64-bit: its small ints reach 2**62 and its objects are twice the size. This port has 32-bit
// words like the RP2040 and the ESP32, so a small int overflowing 2**30 allocates (and fails under heap_lock) and
// object sizes match the boards'. The repo's lib/, board/, host_tests/, docs/, tools/ and verify/ are copied into
// the port's in-memory filesystem at /repo, which becomes the working directory; the runner first proves the
// interpreter is the 32-bit one, then hands over to host_tests/mpy_run.py. Exit code: the runner's (0 pass,
// 1 failure, 5 none ran), 3 when the interpreter is not 32-bit.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const COPIED = ["lib", "board", "host_tests", "docs", "tools", "verify"];
const SKIPPED = new Set(["node_modules", "__pycache__", "wasm", ".hypothesis", ".pytest_cache"]);

function parseArgs(argv) {
  const out = { heapsize: 2 * 1024 * 1024, script: null, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--heapsize") {
      out.heapsize = parseSize(argv[++i]);
    } else if (a === "--script") {
      out.script = argv[++i];
    } else if (a === "--") {
      out.rest.push(...argv.slice(i + 1));
      break;
    } else {
      out.rest.push(a);
    }
  }
  return out;
}

function parseSize(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text || "");
  if (!m) throw new Error("--heapsize: a number of bytes, optionally with k or m");
  const unit = { "": 1, k: 1024, K: 1024, m: 1048576, M: 1048576 }[m[2]];
  return parseInt(m[1], 10) * unit;
}

function copyTree(FS, src, dst) {
  FS.mkdirTree(dst);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name) || entry.name.endsWith(".pyc")) continue;
    const from = path.join(src, entry.name);
    const to = dst + "/" + entry.name;
    if (entry.isDirectory()) {
      copyTree(FS, from, to);
    } else if (entry.isFile()) {
      FS.writeFile(to, fs.readFileSync(from));
    }
  }
}

// The interpreter must be the 32-bit one: machine word 2**31 - 1, small ints end at 2**30 - 1 (one more allocates).
const CHECK_32BIT = `
import sys, micropython
def _boundary(x):
    micropython.heap_lock()
    try:
        x + 1
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return ok
_wasm_word = sys.maxsize
_wasm_small_ok = _boundary(0x3FFFFFFE)
_wasm_small_past = _boundary(0x3FFFFFFF)
del _boundary
`;

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const mp = await loadMicroPython({
    heapsize: args.heapsize,
    stdout: (line) => process.stdout.write(line + "\n"),
    stderr: (line) => process.stderr.write(line + "\n"),
    linebuffer: true,
  });
  for (const dir of COPIED) {
    const src = path.join(ROOT, dir);
    if (fs.existsSync(src)) copyTree(mp.FS, src, "/repo/" + dir);
  }
  mp.FS.chdir("/repo");
  mp.runPython(CHECK_32BIT);
  const word = mp.globals.get("_wasm_word");
  const below = mp.globals.get("_wasm_small_ok");
  const past = mp.globals.get("_wasm_small_past");
  if (word !== 2 ** 31 - 1 || below !== true || past !== false) {
    console.error(`not a 32-bit MicroPython: sys.maxsize=${word}, 2**30-1 small=${below}, 2**30 small=${past}`);
    return 3;
  }
  console.log("32-bit MicroPython (webassembly): sys.maxsize = 2**31 - 1, small ints end at 2**30 - 1");
  mp.globals.set("_wasm_argv", args.rest);
  if (args.script) {
    mp.runPython(`
import sys
try:
    sys.argv = [${JSON.stringify(args.script)}] + list(_wasm_argv)
except AttributeError:  # this port's sys has no argv: the script finds its arguments in _wasm_argv
    pass
for _p in ("/repo/host_tests", "/repo", "/repo/lib"):
    sys.path.insert(0, _p)
_wasm_rc = 0
try:
    exec(open(${JSON.stringify(args.script)}).read(),
         {"__name__": "__main__", "__file__": ${JSON.stringify(args.script)}, "_wasm_argv": _wasm_argv})
except SystemExit as e:
    _wasm_rc = e.value if isinstance(e.value, int) else (0 if e.value is None else 1)
`);
  } else {
    mp.runPython(`
import sys
sys.path.insert(0, "/repo/host_tests")
import mpy_run
_wasm_rc = mpy_run.main(list(_wasm_argv))
`);
  }
  return mp.globals.get("_wasm_rc");
}

main().then(
  (rc) => process.exit(rc),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
