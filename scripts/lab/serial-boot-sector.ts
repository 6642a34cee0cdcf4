// The smallest guest that proves where a VM booted from: x86 real-mode code that writes one message to the
// first serial port and halts. As a disk's boot sector (0x55AA) it says "booted from the disk"; as an ISO's
// El Torito no-emulation boot image it plays a rescue image's console. Under TCG it prints within a second,
// where a real kernel would need minutes, and libvirt's serial log records it for the tests to read.

/** xor ax,ax; mov ds,ax; mov si,MSG; mov dx,0x3F8; next: lodsb; test al,al; jz halt; out dx,al; jmp next; halt: hlt; jmp halt */
const CODE = [0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x15, 0x7c, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd];
/** BIOS and El Torito both load the code at 0000:7C00; the message follows the code (0x7C00 + 21 = the 0x7C15 above). */
const MESSAGE_OFFSET = CODE.length;
const SECTOR = 512;

/** Code plus message, NUL-terminated; padded to `size` bytes. */
function image(message: string, size: number): Buffer {
  const text = Buffer.from(`${message.replace(/\n/g, '\r\n')}\0`, 'latin1');
  if (MESSAGE_OFFSET + text.length > SECTOR - 2) throw new Error(`boot message too long (${text.length} bytes)`);
  const b = Buffer.alloc(size);
  Buffer.from(CODE).copy(b, 0);
  text.copy(b, MESSAGE_OFFSET);
  return b;
}

/** A disk's first sector: BIOS boots it only with the 0x55AA signature. */
export function diskBootSector(message: string): Buffer {
  const b = image(message, SECTOR);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** An El Torito no-emulation boot image (4 × 512 bytes loaded, as `-boot-load-size 4` says). */
export function cdromBootImage(message: string): Buffer {
  return image(message, 4 * SECTOR);
}
