// The host ends of the serial links: the USB CDC console (MicroPython's REPL on RPI_PICO) and the two UARTs.
//
// USB CDC: rp2040js's USBCDC host answers every OUT read at once, with 0 bytes when it has nothing to send; the
// firmware then takes an interrupt per empty packet and never sleeps (code runs several times slower). Here a
// read is held until the host has data, as a NAK would hold it on a real bus, and host data waits in an unbounded
// queue (the device only asks for what fits its buffer).
// USB SOF: rp2040js sends no start-of-frame packets to a device. MicroPython flushes what it printed before the
// host opened the port (the boot banner, main.py's first lines) 16 SOFs after DTR; without them that output would
// wait for the next write. Here a SOF comes every emulated millisecond while the firmware has the SOF interrupt
// enabled (it enables it only for those 16 frames, so idle time is still skipped).
// UART: rp2040js raises the TX interrupt again after every clear, which live-locks MicroPython's interrupt-driven
// machine.UART. Here TX-empty is raised only after a byte was written, as the PL011 does when its FIFO drains.

import { USBCDC } from 'rp2040js';

const USB_SOF_RD = 0x48;
const USB_INTE = 0x90;
const USB_INTR_DEV_SOF = 1 << 17;
const USB_FRAME_NS = 1e6;
const UARTDR = 0x00;
const UART_TX_INTR = 1 << 5;

/** Console bytes from the device, with a stop when a pattern appears. */
export class Transcript {
  constructor() {
    this.total = 0; // bytes received since the board was created
    this.pending = []; // chunks not yet handed to the host
    this.pattern = null; // Buffer being waited for
    this.carry = Buffer.alloc(0); // tail of earlier output a match may start in
    this.onMatch = () => {};
  }

  expect(pattern, carry) {
    this.pattern = pattern.length ? pattern : null;
    this.carry = carry;
  }

  push(bytes) {
    const chunk = Buffer.from(bytes);
    this.total += chunk.length;
    this.pending.push(chunk);
    if (this.pattern === null) return;
    const window = Buffer.concat([this.carry, chunk]);
    if (window.indexOf(this.pattern) >= 0) {
      this.pattern = null;
      this.onMatch();
    } else {
      this.carry = window.subarray(Math.max(0, window.length - this.pattern.length + 1));
    }
  }

  take() {
    const out = Buffer.concat(this.pending);
    this.pending = [];
    return out;
  }
}

export class UsbConsole {
  constructor(transcript) {
    this.transcript = transcript;
    this.queue = []; // host bytes not yet read by the device (numbers)
    this.cdc = null;
    this.heldRead = null; // size of the OUT read the device is waiting on
    this.connectedNs = null;
    this.dropped = 0;
  }

  attach(mcu, now) {
    if (this.queue.length) this.dropped += this.queue.length; // a reset loses what the device had not read
    this.queue = [];
    this.heldRead = null;
    this.connectedNs = null;
    const usb = mcu.usbCtrl;
    const cdc = new USBCDC(usb);
    this.cdc = cdc;
    this.usb = usb;
    cdc.onDeviceConnected = () => {
      this.connectedNs = now();
    };
    cdc.onSerialData = (bytes) => this.transcript.push(bytes);
    this.startFrames(usb, now);
    const cdcRead = usb.onEndpointRead;
    usb.onEndpointRead = (endpoint, size) => {
      if (endpoint !== cdc.outEndpoint) {
        cdcRead(endpoint, size);
        return;
      }
      this.heldRead = size;
      this.feed();
    };
  }

  /** SOF packets every millisecond while the SOF interrupt is enabled; reading SOF_RD clears it (as on silicon). */
  startFrames(usb, now) {
    let running = false;
    const frame = usb.rp2040.clock.createAlarm(() => {
      running = (usb.intEnable & USB_INTR_DEV_SOF) !== 0;
      if (!running) return;
      usb.sofFrameNumber = Math.floor(now() / USB_FRAME_NS) & 0x7ff;
      usb.intRaw |= USB_INTR_DEV_SOF;
      usb.checkInterrupts();
      frame.schedule(USB_FRAME_NS);
    });
    const write = usb.writeUint32.bind(usb);
    usb.writeUint32 = (offset, value) => {
      write(offset, value);
      if (offset === USB_INTE && usb.intEnable & USB_INTR_DEV_SOF && !running) {
        running = true;
        frame.schedule(USB_FRAME_NS);
      }
    };
    const read = usb.readUint32.bind(usb);
    usb.readUint32 = (offset) => {
      if (offset === USB_SOF_RD && usb.intRaw & USB_INTR_DEV_SOF) {
        usb.intRaw &= ~USB_INTR_DEV_SOF;
        usb.checkInterrupts();
      }
      return read(offset);
    };
  }

  write(bytes) {
    for (const b of bytes) this.queue.push(b);
    this.feed();
  }

  feed() {
    if (this.heldRead === null || this.queue.length === 0) return;
    const n = Math.min(this.heldRead, this.queue.length);
    const chunk = Uint8Array.from(this.queue.splice(0, n));
    this.heldRead = null;
    this.usb.endpointReadDone(this.cdc.outEndpoint, chunk);
  }
}

/** UART0/1: TX-empty raised only after a byte; host bytes arrive one per character time at the set baud rate, and
 * are lost (counted) when the UART is off or its RX FIFO full, as an overrun loses them on silicon. */
export class UartLinks {
  constructor() {
    this.output = [[], []]; // bytes the firmware sent, per UART, not yet taken by the host
    this.queue = [[], []]; // host bytes not yet delivered
    this.lost = [0, 0];
    this.alarms = [];
    this.mcu = null;
  }

  attach(mcu) {
    this.mcu = mcu;
    this.lost = this.lost.map((n, i) => n + this.queue[i].length); // a reset loses bytes still on the line
    this.queue = [[], []];
    this.alarms = mcu.uart.map((uart, index) => {
      uart.checkInterrupts = function checkInterrupts() {
        this.rp2040.setInterrupt(this.irq, !!(this.interruptStatus & this.interruptMask));
      };
      const write = uart.writeUint32.bind(uart);
      uart.writeUint32 = (offset, value) => {
        write(offset, value);
        if (offset === UARTDR) {
          uart.interruptStatus |= UART_TX_INTR;
          uart.checkInterrupts();
        }
      };
      uart.onByte = (byte) => this.output[index].push(byte);
      return mcu.clock.createAlarm(() => this.deliver(index));
    });
  }

  charNs(index) {
    const baud = this.mcu.uart[index].baudRate;
    return baud > 0 && Number.isFinite(baud) ? 10e9 / baud : 10e9 / 115200;
  }

  write(index, bytes) {
    const idle = this.queue[index].length === 0;
    for (const b of bytes) this.queue[index].push(b);
    if (idle && this.queue[index].length) this.alarms[index].schedule(this.charNs(index));
  }

  deliver(index) {
    const uart = this.mcu.uart[index];
    const byte = this.queue[index].shift();
    if (uart.enabled && uart.rxEnabled && !uart.rxFIFO.full) uart.feedByte(byte);
    else this.lost[index] += 1;
    if (this.queue[index].length) this.alarms[index].schedule(this.charNs(index));
  }

  take(index) {
    const out = Buffer.from(this.output[index]);
    this.output[index] = [];
    return out;
  }
}
