// Reading and editing libvirt domain XML with an XML library (@xmldom/xmldom), never with text
// substitution: a path or name is always an attribute value or text node, escaped by the serializer, so
// a hostile one cannot open a new element. The edit is the ReaR seed's (cdrom with the rescue ISO first in
// the boot order, boot menu on), with libvirt's rules: the boot order is either <os><boot dev> or
// per-device <boot order>, never both ("per-device boot elements cannot be used together with os/boot
// elements"), and IDE only on machines that have it (q35 has none: the cdrom goes on SATA there).
import { DOMParser, XMLSerializer, type Document, type Element, type Node } from '@xmldom/xmldom';

export interface CdromDevice {
  target: string;
  bus: string;
  source?: string;
  bootOrder?: number;
}

export interface DomainFacts {
  name: string;
  uuid: string;
  machine: string;
  /** 'os': <os><boot dev=…>; 'per-device': <boot order> inside devices; 'none': libvirt's default (hd). */
  bootStyle: 'os' | 'per-device' | 'none';
  /** What the firmware tries first: 'cdrom:<iso>', 'hd', 'disk:<target>', … */
  firstBoot: string;
  cdroms: CdromDevice[];
  /** The serial console's log file, when the domain keeps one (the unattended watch reads it). */
  serialLog?: string;
  onReboot?: string;
  /** 'efi' with <os firmware='efi'> or an OVMF/pflash <loader>: ReaR's unattended ISO mode is BIOS only. */
  firmware: 'bios' | 'efi';
}

export class DomainXmlError extends Error {}

function parse(xml: string): Document {
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level, msg) => {
        if (level !== 'warning') throw new DomainXmlError(`domain XML: ${msg}`);
      },
    }).parseFromString(xml, 'text/xml');
  } catch (err) {
    throw err instanceof DomainXmlError ? err : new DomainXmlError(`domain XML: ${(err as Error).message}`);
  }
  if (doc.documentElement?.tagName !== 'domain') throw new DomainXmlError('not a libvirt domain definition (no <domain> root)');
  return doc;
}

const children = (el: Element | null | undefined, tag: string): Element[] =>
  el ? Array.from(el.childNodes as unknown as Node[]).filter((n): n is Element => n.nodeType === 1 && (n as Element).tagName === tag) : [];
const child = (el: Element | null | undefined, tag: string): Element | undefined => children(el, tag)[0];

function devicesOf(doc: Document): Element {
  const d = child(doc.documentElement, 'devices');
  if (!d) throw new DomainXmlError('the domain has no <devices>');
  return d;
}

const disks = (doc: Document): Element[] => children(devicesOf(doc), 'disk');
const orderOf = (el: Element): number | undefined => {
  const b = child(el, 'boot');
  return b ? Number(b.getAttribute('order')) : undefined;
};
const bootables = (doc: Document): Element[] => {
  const devs = devicesOf(doc);
  return Array.from(devs.childNodes as unknown as Node[]).filter((n): n is Element => n.nodeType === 1 && orderOf(n as Element) !== undefined);
};

function cdromOf(el: Element): CdromDevice {
  const t = child(el, 'target');
  return {
    target: t?.getAttribute('dev') ?? '',
    bus: t?.getAttribute('bus') ?? '',
    source: child(el, 'source')?.getAttribute('file') ?? undefined,
    bootOrder: orderOf(el),
  };
}

function describeDevice(el: Element): string {
  if (el.tagName === 'disk' && el.getAttribute('device') === 'cdrom') return `cdrom:${child(el, 'source')?.getAttribute('file') ?? '(empty)'}`;
  if (el.tagName === 'disk') return `disk:${child(el, 'target')?.getAttribute('dev') ?? '?'}`;
  return el.tagName;
}

export function domainFacts(xml: string): DomainFacts {
  const doc = parse(xml);
  const root = doc.documentElement!;
  const os = child(root, 'os');
  const osBoots = children(os, 'boot');
  const perDevice = bootables(doc).sort((a, b) => (orderOf(a) ?? 0) - (orderOf(b) ?? 0));
  const cdroms = disks(doc).filter((d) => d.getAttribute('device') === 'cdrom');
  let firstBoot = 'hd';
  if (osBoots.length) {
    const dev = osBoots[0]!.getAttribute('dev') ?? '';
    // <boot dev='cdrom'> boots the FIRST cdrom of the definition, empty or not (not the first with a source).
    firstBoot = dev === 'cdrom' ? `cdrom:${(cdroms[0] && child(cdroms[0], 'source')?.getAttribute('file')) || '(empty)'}` : dev;
  } else if (perDevice.length) firstBoot = describeDevice(perDevice[0]!);
  const serial = child(devicesOf(doc), 'serial');
  const serialLog =
    child(serial, 'log')?.getAttribute('file') ??
    (serial?.getAttribute('type') === 'file' ? (child(serial, 'source')?.getAttribute('path') ?? undefined) : undefined);
  return {
    name: child(root, 'name')?.textContent ?? '',
    uuid: child(root, 'uuid')?.textContent ?? '',
    machine: child(os, 'type')?.getAttribute('machine') ?? '',
    bootStyle: osBoots.length ? 'os' : perDevice.length ? 'per-device' : 'none',
    firstBoot,
    cdroms: cdroms.map(cdromOf),
    serialLog: serialLog || undefined,
    onReboot: child(root, 'on_reboot')?.textContent ?? undefined,
    firmware:
      os?.getAttribute('firmware') === 'efi' ||
      /ovmf|edk2|\.fd$/i.test(child(os, 'loader')?.textContent ?? '') ||
      child(os, 'loader')?.getAttribute('type') === 'pflash'
        ? 'efi'
        : 'bios',
  };
}

/** SATA on q35 (no IDE there); IDE on the i440fx "pc" machines, as the seed's definition had it. */
export function cdromBus(machine: string): 'sata' | 'ide' {
  if (/q35/.test(machine)) return 'sata';
  if (/^pc(-i440fx.*)?$/.test(machine) || /^pc-\d/.test(machine)) return 'ide';
  throw new DomainXmlError(`machine type "${machine}" is neither q35 nor i440fx: no known cdrom bus`);
}

function freeTarget(doc: Document, bus: 'sata' | 'ide'): string {
  const used = new Set(disks(doc).map((d) => child(d, 'target')?.getAttribute('dev')));
  const prefix = bus === 'ide' ? 'hd' : 'sd';
  // IDE has four slots (hda–hdd); the seed's hdc is the secondary master.
  const letters = bus === 'ide' ? 'cdab' : 'abcdefghijklmnopqrstuvwxyz';
  for (const l of letters) if (!used.has(`${prefix}${l}`)) return `${prefix}${l}`;
  throw new DomainXmlError(`no free ${bus} target for the cdrom`);
}

function el(doc: Document, tag: string, attrs: Record<string, string> = {}): Element {
  const e = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** An empty read-only cdrom on a free target of `bus`, next to the other disks. */
function newCdrom(doc: Document, bus: 'sata' | 'ide'): Element {
  const cdrom = el(doc, 'disk', { type: 'file', device: 'cdrom' });
  cdrom.appendChild(el(doc, 'driver', { name: 'qemu', type: 'raw' }));
  cdrom.appendChild(el(doc, 'target', { dev: freeTarget(doc, bus), bus }));
  cdrom.appendChild(el(doc, 'readonly'));
  const devices = devicesOf(doc);
  const firstDisk = disks(doc)[0];
  // Next to the other disks: libvirt keeps its own order, but a reader expects disks together.
  devices.insertBefore(cdrom, firstDisk ? firstDisk.nextSibling : devices.firstChild);
  return cdrom;
}

export interface RescueEdit {
  xml: string;
  target: string;
  bus: string;
  bootStyle: 'per-device';
}

/**
 * The seed's edit: the rescue ISO in a cdrom (an existing cdrom is reused, else one is added), first in the
 * boot order, the disk after it, the boot menu on. on_reboot becomes destroy, so the rescue system's own
 * reboot (ReaR's unattended mode reboots 30 s after `rear recover`) powers the domain off instead of
 * booting the ISO again: the recovery loop ReaR's default.conf warns about.
 */
export function rescueDefinition(xml: string, iso: string, keyIso?: string): RescueEdit {
  const doc = parse(xml);
  const root = doc.documentElement!;
  const facts = domainFacts(xml);
  const bus = cdromBus(facts.machine);
  const devices = devicesOf(doc);
  const cdrom = disks(doc).find((d) => d.getAttribute('device') === 'cdrom' && cdromOf(d).bus === bus) ?? newCdrom(doc, bus);
  for (const s of children(cdrom, 'source')) cdrom.removeChild(s);
  cdrom.setAttribute('type', 'file');
  const source = el(doc, 'source', { file: iso });
  cdrom.insertBefore(source, child(cdrom, 'target') ?? null);
  const target = child(cdrom, 'target')!.getAttribute('dev')!;
  // The recovery's store key, on a drive of its own (label RBKEY) that is never booted: the rescue image
  // holds no key for the store.
  if (keyIso) {
    const drive = newCdrom(doc, bus);
    drive.insertBefore(el(doc, 'source', { file: keyIso }), child(drive, 'target') ?? null);
  }

  // Always the per-device form, whatever the definition used: `<os><boot dev='cdrom'>` boots the first cdrom
  // of the definition (an empty drive before ours wins), per-device order 1 is exactly this drive. Other
  // cdroms lose any boot order; the devices that had one keep their order after the ISO; a definition in
  // the <os> form gets its first disk second (what `<boot dev='hd'>` meant). UEFI/OVMF honours only this form.
  const os = child(root, 'os')!;
  const bootStyle = 'per-device' as const;
  const hadOsBoots = children(os, 'boot').map((b) => b.getAttribute('dev'));
  for (const b of children(os, 'boot')) os.removeChild(b);
  for (const b of children(os, 'bootmenu')) os.removeChild(b);
  os.appendChild(el(doc, 'bootmenu', { enable: 'yes', timeout: '3000' }));
  for (const d of disks(doc)) if (d !== cdrom && d.getAttribute('device') === 'cdrom') for (const b of children(d, 'boot')) d.removeChild(b);
  for (const b of children(cdrom, 'boot')) cdrom.removeChild(b);
  const rest = bootables(doc).sort((a, b) => (orderOf(a) ?? 0) - (orderOf(b) ?? 0));
  if (!rest.length) {
    // <os> form or none: the disk comes after the ISO (hd was the default, or was listed).
    const firstDisk = disks(doc).find((d) => d.getAttribute('device') === 'disk');
    if (firstDisk && (hadOsBoots.length === 0 || hadOsBoots.includes('hd'))) rest.push(firstDisk);
  }
  rest.forEach((d, n) => {
    for (const b of children(d, 'boot')) d.removeChild(b);
    d.appendChild(el(doc, 'boot', { order: String(n + 2) }));
  });
  cdrom.appendChild(el(doc, 'boot', { order: '1' }));
  let onReboot = child(root, 'on_reboot');
  if (!onReboot) {
    onReboot = el(doc, 'on_reboot');
    root.insertBefore(onReboot, devices);
  }
  onReboot.textContent = 'destroy';
  return { xml: new XMLSerializer().serializeToString(doc), target, bus, bootStyle };
}

/**
 * Whitespace between elements and comments dropped, and <controller> elements sorted by type and index:
 * libvirt moves controllers it added (a PCIe bridge for a SCSI cdrom) to another place in <devices> when a
 * definition is defined again, without any change in meaning. The order of every other device is kept (the
 * order of disks decides which cdrom `<boot dev='cdrom'>` boots). Two definitions compare equal after this
 * when libvirt would read them the same.
 */
export function normaliseDomainXml(xml: string): string {
  const doc = parse(xml);
  const strip = (n: Node): void => {
    for (const c of Array.from(n.childNodes as unknown as Node[])) {
      if (c.nodeType === 3 && !(c.nodeValue ?? '').trim()) n.removeChild(c);
      else if (c.nodeType === 8) n.removeChild(c);
      else strip(c);
    }
  };
  strip(doc);
  const devices = child(doc.documentElement, 'devices');
  if (devices) {
    const key = (e: Element): string => `${e.getAttribute('type') ?? ''}:${(e.getAttribute('index') ?? '').padStart(4, '0')}:${e.getAttribute('model') ?? ''}`;
    const controllers = children(devices, 'controller').sort((a, b) => key(a).localeCompare(key(b)));
    for (const c of controllers) devices.removeChild(c);
    for (const c of controllers) devices.appendChild(c);
  }
  return new XMLSerializer().serializeToString(doc);
}

/** Shell words of `virsh domxml-to-native qemu-argv` (single quotes around JSON, no other quoting in it). */
function argvWords(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/'((?:[^']|'\\'')*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

const keyValues = (arg: string): Record<string, unknown> => {
  if (arg.startsWith('{')) return JSON.parse(arg) as Record<string, unknown>;
  const kv: Record<string, unknown> = {};
  arg.split(',').forEach((p, n) => {
    const eq = p.indexOf('=');
    if (eq > 0) kv[p.slice(0, eq)] = p.slice(eq + 1);
    else if (n === 0) kv.driver = p;
  });
  return kv;
};

/**
 * What QEMU boots first, from libvirt's own command line for the definition (`virsh domxml-to-native
 * qemu-argv`): the -device with the lowest bootindex, followed through its drive (-blockdev node chain, or
 * a legacy -drive) to the file it reads: "file:<path>", "empty" (a drive with no medium), or "none" (no
 * bootindex at all: QEMU's -boot order decides).
 */
export function nativeFirstBoot(argv: string): string {
  const w = argvWords(argv);
  const devices: Record<string, unknown>[] = [];
  const nodes = new Map<string, Record<string, unknown>>();
  for (let n = 0; n < w.length - 1; n++) {
    const opt = w[n];
    if (opt !== '-device' && opt !== '-blockdev' && opt !== '-drive') continue;
    const kv = keyValues(w[n + 1]!);
    if (opt === '-device') devices.push(kv);
    else nodes.set(String(kv['node-name'] ?? kv.id ?? ''), kv);
  }
  const booting = devices.filter((d) => d.bootindex !== undefined).sort((a, b) => Number(a.bootindex) - Number(b.bootindex))[0];
  if (!booting) return 'none';
  let node = booting.drive !== undefined ? nodes.get(String(booting.drive)) : undefined;
  for (let hops = 0; node && hops < 8; hops++) {
    if (typeof node.filename === 'string') return `file:${node.filename}`;
    if (typeof node.file === 'string' && !nodes.has(node.file)) return `file:${node.file}`;
    node = typeof node.file === 'string' ? nodes.get(node.file) : undefined;
  }
  return 'empty';
}

/**
 * The definition without its VNC/SPICE passwords (the `passwd` of every <graphics>), otherwise byte for byte
 * as libvirt wrote it: what the run's audit store keeps. Only a copy for people to read, never defined back.
 */
export function withoutPasswords(xml: string): string {
  return xml.replace(/(<graphics\b[^>]*\spasswd=)(['"])[^'"]*\2/g, '$1$2(kept on the hypervisor only)$2');
}
