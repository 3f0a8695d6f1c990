// Flash writes for rp2040js: the boot ROM's flash_range_erase / flash_range_program done on the flash array.
//
// rp2040js does not model the flash chip behind the SSI, so the ROM's own erase/program routines would clock
// commands into nothing. The firmware reaches both routines only through the ROM function table ("RE", "RP"), so
// their entry points get a BKPT that the runner answers: the operation is applied to the flash array as a NOR chip
// would (erase sets 0xFF, program can only clear bits), counted, timed, and the core returns to the caller. This
// is also the one place where a power cut can land at an exact flash operation.

export const FLASH_SIZE = 2 * 1024 * 1024; // the Pico's W25Q16JV
export const SECTOR = 4096;
export const PAGE = 256;
const ROM_FUNC_TABLE_PTR = 0x14;
const TRAP_ERASE = 0xe5; // BKPT immediates the runner answers
const TRAP_PROGRAM = 0xf5;
const SRAM_BASE = 0x20000000;

/** Address (thumb bit cleared) of a boot ROM function, looked up through the ROM's function table. */
export function romFunction(bootrom, code) {
  const view = new DataView(bootrom.buffer, bootrom.byteOffset, bootrom.byteLength);
  const want = code.charCodeAt(0) | (code.charCodeAt(1) << 8);
  for (let entry = view.getUint16(ROM_FUNC_TABLE_PTR, true); entry + 4 <= bootrom.length; entry += 4) {
    const tag = view.getUint16(entry, true);
    if (tag === 0) break;
    if (tag === want) return view.getUint16(entry + 2, true) & ~1;
  }
  throw new Error(`boot ROM: no function "${code}" in its function table (not an RP2040 boot ROM?)`);
}

/** Flash operations: counted, timed (datasheet typical times by default), and a power cut armed at the N-th. */
export class FlashOps {
  constructor(flash, timing) {
    this.flash = flash; // the board's persistent flash (FLASH_SIZE bytes)
    this.eraseNsPerSector = timing.erase_ms_per_sector * 1e6;
    this.programNsPerPage = timing.program_ms_per_page * 1e6;
    this.counts = { erase: 0, program: 0, erase_bytes: 0, program_bytes: 0 };
    this.log = []; // {kind, offset, bytes, t_ns} of every operation since the last clear
    this.cut = null; // {remaining, partial_bytes} while a power cut is armed
  }

  /** Patch the two ROM entry points of this chip with traps; `onOp(stallNs, cutInfo)` runs after each operation. */
  install(mcu, bootromBytes, nowNs, onOp) {
    const traps = {
      [TRAP_ERASE]: romFunction(bootromBytes, 'RE'),
      [TRAP_PROGRAM]: romFunction(bootromBytes, 'RP'),
    };
    for (const [imm, address] of Object.entries(traps)) {
      const word = address >> 2;
      const shift = (address & 2) * 8;
      mcu.bootrom[word] = ((mcu.bootrom[word] & ~(0xffff << shift)) | ((0xbe00 | Number(imm)) << shift)) >>> 0;
    }
    const previous = mcu.onBreak;
    mcu.onBreak = (code) => {
      const core = mcu.core;
      const at = (core.PC - 2) >>> 0;
      if (traps[code] !== at) {
        previous(code);
        return;
      }
      const r = core.registers;
      const kind = code === TRAP_ERASE ? 'erase' : 'program';
      const result = kind === 'erase' ? this.erase(r[0], r[1], nowNs()) : this.program(mcu, r[0], r[1], r[2], nowNs());
      core.PC = core.LR & ~1; // return from the ROM routine as its `bx lr` would
      onOp(result.stallNs, result.cut);
    };
    return traps;
  }

  arm(afterOps, partialBytes) {
    this.cut = { remaining: afterOps, partial_bytes: partialBytes };
  }

  /** Bytes of this operation to apply: all of them, or (at an armed cut) the first partial_bytes. */
  _budget(kind, offset, bytes, tNs) {
    this.counts[kind] += 1;
    this.counts[kind + '_bytes'] += bytes;
    this.log.push({ kind, offset, bytes, t_ns: tNs });
    if (this.cut === null) return { apply: bytes, cut: null };
    this.cut.remaining -= 1;
    if (this.cut.remaining > 0) return { apply: bytes, cut: null };
    const apply = Math.min(bytes, this.cut.partial_bytes);
    this.cut = null;
    const index = this.counts.erase + this.counts.program;
    return { apply, cut: { kind, offset, bytes, applied_bytes: apply, index } };
  }

  _check(kind, offset, bytes, unit) {
    if (offset % unit !== 0 || bytes % unit !== 0 || offset + bytes > FLASH_SIZE) {
      throw new Error(`flash ${kind} of ${bytes} bytes at 0x${offset.toString(16)}: not whole ${unit}-byte units ` +
        `inside the ${FLASH_SIZE}-byte flash (the ROM routine would corrupt neighbouring data)`);
    }
  }

  erase(offset, bytes, tNs) {
    this._check('erase', offset, bytes, SECTOR);
    const { apply, cut } = this._budget('erase', offset, bytes, tNs);
    this.flash.fill(0xff, offset, offset + apply);
    return { stallNs: (bytes / SECTOR) * this.eraseNsPerSector, cut };
  }

  program(mcu, offset, dataAddress, bytes, tNs) {
    this._check('program', offset, bytes, PAGE);
    const { apply, cut } = this._budget('program', offset, bytes, tNs);
    const inSram = dataAddress >= SRAM_BASE && dataAddress + bytes <= SRAM_BASE + mcu.sram.length;
    for (let i = 0; i < apply; i++) {
      const byte = inSram ? mcu.sram[dataAddress - SRAM_BASE + i] : mcu.readUint8(dataAddress + i);
      this.flash[offset + i] &= byte; // NOR flash: programming only clears bits
    }
    return { stallNs: (bytes / PAGE) * this.programNsPerPage, cut };
  }

  report(withLog) {
    const out = { ...this.counts, total: this.counts.erase + this.counts.program, armed: this.cut !== null };
    if (withLog) out.log = this.log;
    return out;
  }

  clear() {
    this.counts = { erase: 0, program: 0, erase_bytes: 0, program_bytes: 0 };
    this.log = [];
  }
}
