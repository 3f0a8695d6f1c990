// Line-based JSON protocol on stdin/stdout driving one emulated Pico (verify/emu/emulator.py is the other end).
//
// Each request is one JSON object {"cmd": ..., args} on a line; each answer one JSON line {"ok": true, ...} or
// {"ok": false, "error": "<cmd>: <key>: <what is allowed>"}. Console bytes travel as latin-1 strings (one char per
// byte). Times are emulated nanoseconds since the first power-on. Nothing else is ever written to stdout.

import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { decodeBlock, isUF2Block } from 'uf2';
import { Board } from './board.mjs';
import { FLASH_SIZE } from './flash.mjs';
import { Hydraulics } from './hydraulics.mjs';
import { ADC_CHANNELS, GPIO_COUNT, PinError } from './pins.mjs';

const FLASH_BASE = 0x10000000;
const RP2040_FAMILY = 0xe48bff56;
const UF2_NOT_MAIN_FLASH = 0x1;
const UF2_FAMILY_PRESENT = 0x2000;
const BOOTROM_BYTES = 16384;
const DEFAULT_TIMING = { erase_ms_per_sector: 45, program_ms_per_page: 0.4 }; // W25Q16JV typical

console.log = console.error; // rp2040js or anything else printing must not corrupt the protocol
console.info = console.error;
console.debug = console.error;
console.warn = console.error;

class BadRequest extends Error {}

function need(cond, message) {
  if (!cond) throw new BadRequest(message);
}

function num(req, key, { min = -Infinity, max = Infinity, int = false, dflt } = {}) {
  const value = req[key] === undefined ? dflt : req[key];
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
  need(ok && (!int || Number.isInteger(value)),
    `${key}: must be ${int ? 'an integer' : 'a number'} in ${min}..${max}, got ${JSON.stringify(req[key])}`);
  return value;
}

function str(req, key) {
  need(typeof req[key] === 'string' && req[key].length > 0,
    `${key}: must be a non-empty string, got ${JSON.stringify(req[key])}`);
  return req[key];
}

function readFile(path, key) {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new BadRequest(`${key}: cannot read ${path}: ${err.code || err.message}`);
  }
}

/** The flash at power-on: the .uf2 image, and optionally a filesystem image at its offset; the rest erased. */
function loadFlash(req) {
  const flash = new Uint8Array(FLASH_SIZE).fill(0xff);
  const uf2 = readFile(str(req, 'uf2'), 'uf2');
  need(uf2.length > 0 && uf2.length % 512 === 0,
    `uf2: ${req.uf2} is not a UF2 file (size ${uf2.length} is not a multiple of 512)`);
  let blocks = 0;
  for (let at = 0; at < uf2.length; at += 512) {
    const raw = new Uint8Array(uf2.buffer, uf2.byteOffset + at, 512);
    need(isUF2Block(raw), `uf2: ${req.uf2} is not a UF2 file (block ${at / 512} lacks the UF2 magic numbers)`);
    let block;
    try {
      block = decodeBlock(raw);
    } catch (err) {
      throw new BadRequest(`uf2: ${req.uf2}: block ${at / 512}: ${err.message}`);
    }
    if (block.flags & UF2_NOT_MAIN_FLASH) continue;
    need(!(block.flags & UF2_FAMILY_PRESENT) || block.boardFamily === RP2040_FAMILY,
      `uf2: ${req.uf2}: family 0x${block.boardFamily.toString(16)} is not the RP2040's (0xe48bff56)`);
    const offset = block.flashAddress - FLASH_BASE;
    need(offset >= 0 && offset + block.payload.length <= FLASH_SIZE,
      `uf2: ${req.uf2}: block ${at / 512} at 0x${block.flashAddress.toString(16)} is outside the 2 MB flash`);
    flash.set(block.payload, offset);
    blocks += 1;
  }
  need(blocks > 0, `uf2: ${req.uf2} holds no RP2040 flash blocks`);
  if (req.fs !== undefined && req.fs !== null) {
    const fsOffset = num(req, 'fs_offset', { min: 0, max: FLASH_SIZE, int: true });
    const image = readFile(str(req, 'fs'), 'fs');
    need(fsOffset + image.length <= FLASH_SIZE,
      `fs: ${image.length} bytes at 0x${fsOffset.toString(16)} do not fit the 2 MB flash`);
    flash.set(image, fsOffset);
  }
  return { flash, blocks };
}

function loadBootrom(req) {
  const bytes = readFile(str(req, 'bootrom'), 'bootrom');
  need(bytes.length === BOOTROM_BYTES,
    `bootrom: ${req.bootrom} has ${bytes.length} bytes, an RP2040 boot ROM has ${BOOTROM_BYTES}`);
  need(bytes[0x10] === 0x4d && bytes[0x11] === 0x75 && bytes[0x12] === 1,
    `bootrom: ${req.bootrom} lacks the RP2040 boot ROM magic ("Mu", version 1) at 0x10`);
  return Uint8Array.from(bytes); // aligned copy: the chip reads it as 32-bit words
}

function latin1(buffer) {
  return Buffer.from(buffer).toString('latin1');
}

function pin(req, key = 'pin') {
  return num(req, key, { min: 0, max: GPIO_COUNT - 1, int: true });
}

function level(value, key) {
  need(value === 0 || value === 1, `${key}: must be 0 or 1, got ${JSON.stringify(value)}`);
  return value;
}

const ADC_VALUE = { min: 0, max: 4095, int: true }; // 12-bit conversions
// the pressure plant's defaults (docs/hydraulics.md: 200 nL steps into 0.16 uL/kPa, tau = R C = 51 ms; the Pico
// W's analog scaling: 330 mV at 0 kPa, 2640 mV over 100 kPa, 3.3 V reference)
const PLANT_DEFAULTS = {
  csf_kpa: 1.2, j_kpa: 1.25, tau_ms: 51, mv_at_0: 330, mv_per_kpa: 26.4, noise_kpa: 0.05, seed: 1, vref_mv: 3300,
};

/** [[t_ns, value], ...] of a planned drive, each value checked by check(value, key). */
function changes(req, check) {
  need(Array.isArray(req.changes) && req.changes.length > 0, 'changes: must be a non-empty list of [t_ns, value]');
  return req.changes.map((c, i) => {
    need(Array.isArray(c) && c.length === 2 && typeof c[0] === 'number' && Number.isFinite(c[0]),
      `changes[${i}]: must be [t_ns, value], got ${JSON.stringify(c)}`);
    return [c[0], check(c[1], `changes[${i}] value`)];
  });
}

// the keys each request may carry besides "cmd": anything else is refused, so a misspelt key cannot be ignored
const KEYS = {
  boot: ['uf2', 'bootrom', 'fs', 'fs_offset', ...Object.keys(DEFAULT_TIMING)],
  run: ['ms', 'wall_ms', 'until', 'carry'],
  write: ['data'],
  uart_write: ['uart', 'data'],
  uart_read: ['uart'],
  adc: ['channel', 'value'],
  pin: ['pin', 'level'],
  drive: ['pin', 'changes'],
  drive_adc: ['channel', 'changes'],
  follow: ['pin', 'source', 'every', 'delay_ns', 'high_ns'],
  hydraulics: ['channel', 'step', 'dir', 'forward', ...Object.keys(PLANT_DEFAULTS)],
  occlude: ['occluded'],
  watch: ['pins'],
  edges: ['pins', 'clear'],
  pin_state: ['pin'],
  flash_ops: ['clear', 'log'],
  cut_power: ['after_ops', 'partial_bytes'],
  dump_flash: ['path', 'offset', 'size'],
  load_flash: ['path'],
  reset: [],
  stats: [],
  quit: [],
};

let board = null;

function requireBoard(cmd) {
  need(board !== null, 'no board yet: send "boot" first');
  return board;
}

const handlers = {
  boot(req) {
    const timing = { ...DEFAULT_TIMING };
    for (const key of Object.keys(DEFAULT_TIMING)) {
      if (req[key] !== undefined) timing[key] = num(req, key, { min: 0, max: 10000 });
    }
    const bootrom = loadBootrom(req);
    const { flash, blocks } = loadFlash(req);
    board = new Board({ flash, bootrom }, timing);
    return { uf2_blocks: blocks, timing };
  },

  run(req) {
    const b = requireBoard('run');
    const ms = num(req, 'ms', { min: 0, max: 1e9 });
    const wallMs = num(req, 'wall_ms', { min: 0, max: 1e8, dflt: 0 });
    const until = req.until === undefined ? '' : req.until;
    need(typeof until === 'string', `until: must be a latin-1 string, got ${JSON.stringify(req.until)}`);
    const carry = req.carry === undefined ? '' : req.carry;
    need(typeof carry === 'string', `carry: must be a latin-1 string, got ${JSON.stringify(req.carry)}`);
    b.transcript.expect(Buffer.from(until, 'latin1'), Buffer.from(carry, 'latin1'));
    const result = b.run(b.nowNs() + ms * 1e6, wallMs);
    b.transcript.expect(Buffer.alloc(0), Buffer.alloc(0));
    return { ...result, fault: b.fault };
  },

  write(req) {
    const b = requireBoard('write');
    need(typeof req.data === 'string', `data: must be a latin-1 string, got ${JSON.stringify(req.data)}`);
    b.usb.write(Buffer.from(req.data, 'latin1'));
    return {};
  },

  uart_write(req) {
    const b = requireBoard('uart_write');
    const index = num(req, 'uart', { min: 0, max: 1, int: true });
    need(typeof req.data === 'string', `data: must be a latin-1 string, got ${JSON.stringify(req.data)}`);
    b.uarts.write(index, Buffer.from(req.data, 'latin1'));
    return {};
  },

  uart_read(req) {
    const b = requireBoard('uart_read');
    const index = num(req, 'uart', { min: 0, max: 1, int: true });
    return { data: latin1(b.uarts.take(index)) };
  },

  adc(req) {
    const b = requireBoard('adc');
    const channel = num(req, 'channel', { min: 0, max: ADC_CHANNELS - 1, int: true });
    b.pins.adc[channel] = num(req, 'value', ADC_VALUE);
    return {};
  },

  pin(req) {
    const b = requireBoard('pin');
    const p = pin(req);
    need(req.level === null || req.level === 0 || req.level === 1,
      `level: must be 0, 1 or null (released), got ${JSON.stringify(req.level)}`);
    b.pins.drive(p, req.level);
    return { state: b.pins.state(p) };
  },

  drive(req) {
    const b = requireBoard('drive');
    const p = pin(req);
    b.pins.plan('pin', p, changes(req, (v, key) => level(v, key)), b.nowNs());
    return {};
  },

  drive_adc(req) {
    const b = requireBoard('drive_adc');
    const channel = num(req, 'channel', { min: 0, max: ADC_CHANNELS - 1, int: true });
    b.pins.plan('adc', channel, changes(req, (v, key) => num({ [key]: v }, key, ADC_VALUE)), b.nowNs());
    return {};
  },

  follow(req) {
    const b = requireBoard('follow');
    const dst = pin(req);
    if (req.source === null) {
      b.pins.follow(dst, null);
      return {};
    }
    const src = pin(req, 'source');
    need(src !== dst, `source: must differ from pin ${dst}`);
    const every = num(req, 'every', { min: 1, max: 1e6, int: true });
    const delayNs = num(req, 'delay_ns', { min: 0, max: 1e12 });
    const highNs = num(req, 'high_ns', { min: 1, max: 1e12 });
    b.pins.follow(dst, src, every, delayNs, highNs);
    return {};
  },

  hydraulics(req) {
    const b = requireBoard('hydraulics');
    const channel = num(req, 'channel', { min: 0, max: ADC_CHANNELS - 2, int: true });
    const step = pin(req, 'step');
    const dir = pin(req, 'dir');
    const forward = level(req.forward, 'forward');
    const opts = {};
    for (const [key, dflt] of Object.entries(PLANT_DEFAULTS)) {
      opts[key] = num(req, key, { min: key === 'seed' ? 1 : 0, max: 1e6, dflt });
    }
    need(opts.tau_ms > 0 && opts.vref_mv > 0, 'tau_ms and vref_mv: must be above 0');
    b.pins.attachPlant(new Hydraulics(opts, b.nowNs()), channel, step, dir, forward);
    return {};
  },

  occlude(req) {
    const b = requireBoard('occlude');
    need(b.pins.plant !== null, 'no pressure plant: send "hydraulics" first');
    need(typeof req.occluded === 'boolean', `occluded: must be true or false, got ${JSON.stringify(req.occluded)}`);
    const { model } = b.pins.plant;
    model.occlude(req.occluded, b.nowNs());
    return { held_kpa: model.heldKpa, steps: model.steps };
  },

  watch(req) {
    const b = requireBoard('watch');
    need(Array.isArray(req.pins) && req.pins.length > 0,
      `pins: must be a non-empty list of GPIO numbers 0..${GPIO_COUNT - 1}`);
    const pins = req.pins.map((p, i) => pin({ [`pins[${i}]`]: p }, `pins[${i}]`));
    b.pins.watch(pins);
    return { levels: Object.fromEntries(pins.map((p) => [p, b.pins.level[p]])) };
  },

  edges(req) {
    const b = requireBoard('edges');
    need(Array.isArray(req.pins) && req.pins.length > 0, `pins: must be a non-empty list of watched GPIO numbers`);
    const pins = req.pins.map((p, i) => pin({ [`pins[${i}]`]: p }, `pins[${i}]`));
    return { pins: b.pins.report(pins, req.clear === true) };
  },

  pin_state(req) {
    const b = requireBoard('pin_state');
    return { state: b.pins.state(pin(req)) };
  },

  flash_ops(req) {
    const b = requireBoard('flash_ops');
    const out = b.flashOps.report(req.log === true);
    if (req.clear === true) b.flashOps.clear();
    return out;
  },

  cut_power(req) {
    const b = requireBoard('cut_power');
    const after = num(req, 'after_ops', { min: 1, max: 1e9, int: true });
    const partial = num(req, 'partial_bytes', { min: 0, max: FLASH_SIZE, int: true, dflt: 0 });
    b.flashOps.arm(after, partial);
    return {};
  },

  dump_flash(req) {
    const b = requireBoard('dump_flash');
    const offset = num(req, 'offset', { min: 0, max: FLASH_SIZE, int: true, dflt: 0 });
    const size = num(req, 'size', { min: 0, max: FLASH_SIZE - offset, int: true, dflt: FLASH_SIZE - offset });
    const path = str(req, 'path');
    writeFileSync(path, b.flashBytes().subarray(offset, offset + size));
    return { bytes: size };
  },

  load_flash(req) {
    const b = requireBoard('load_flash');
    const bytes = readFile(str(req, 'path'), 'path');
    need(bytes.length === FLASH_SIZE, `path: ${req.path} has ${bytes.length} bytes, the flash has ${FLASH_SIZE}`);
    b.powerOnWith(bytes);
    return {};
  },

  reset(req) {
    requireBoard('reset').powerCycle();
    return {};
  },

  stats() {
    return requireBoard('stats').stats();
  },

  quit() {
    return {};
  },
};

for (const name of Object.keys(handlers)) {
  if (!KEYS[name]) throw new Error(`runner: no KEYS entry for ${name}`);
}

function answer(req) {
  const cmd = typeof req === 'object' && req !== null ? req.cmd : undefined;
  const handler = typeof cmd === 'string' && Object.hasOwn(handlers, cmd) ? handlers[cmd] : null;
  if (handler === null) {
    return { ok: false, error: `cmd: must be one of ${Object.keys(handlers).join(', ')}, got ${JSON.stringify(cmd)}` };
  }
  try {
    const unknown = Object.keys(req).filter((key) => key !== 'cmd' && !KEYS[cmd].includes(key));
    need(unknown.length === 0, `${unknown[0]}: unknown key (allowed: ${KEYS[cmd].join(', ') || 'none'})`);
    const out = { ok: true, ...handler(req) };
    if (board !== null) {
      out.t_ns = board.nowNs();
      out.console = latin1(board.transcript.take());
      out.events = board.events.splice(0);
    }
    return out;
  } catch (err) {
    if (err instanceof BadRequest || err instanceof PinError) return { ok: false, error: `${cmd}: ${err.message}` };
    return { ok: false, error: `${cmd}: internal error: ${err.message}` };
  }
}

function main() {
  if (process.argv.length > 2) {
    const got = process.argv.slice(2).join(' ');
    process.stderr.write(`usage: node verify/emu/runner.mjs (no arguments; JSON requests on stdin), got ${got}\n`);
    process.exit(2);
  }
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    let req;
    try {
      req = JSON.parse(line);
    } catch (err) {
      process.stdout.write(JSON.stringify({ ok: false, error: `request: not JSON: ${err.message}` }) + '\n');
      return;
    }
    process.stdout.write(JSON.stringify(answer(req)) + '\n');
    if (req && req.cmd === 'quit') lines.close();
  });
  lines.on('close', () => process.exit(0));
}

main();
