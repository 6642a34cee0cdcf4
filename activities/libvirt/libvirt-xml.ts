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
    firstBoot = dev === 'cdrom' ? `cdrom:${cdroms.map((c) => child(c, 'source')?.getAttribute('file')).find(Boolean) ?? '(empty)'}` : dev;
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

export interface RescueEdit {
  xml: string;
  target: string;
  bus: string;
  bootStyle: 'os' | 'per-device';
}

/**
 * The seed's edit: the rescue ISO in a cdrom (an existing cdrom is reused, else one is added), first in the
 * boot order, the disk after it, the boot menu on. on_reboot becomes destroy, so the rescue system's own
 * reboot (ReaR's unattended mode reboots 30 s after `rear recover`) powers the domain off instead of
 * booting the ISO again: the recovery loop ReaR's default.conf warns about.
 */
export function rescueDefinition(xml: string, iso: string): RescueEdit {
  const doc = parse(xml);
  const root = doc.documentElement!;
  const facts = domainFacts(xml);
  const bus = cdromBus(facts.machine);
  const devices = devicesOf(doc);
  let cdrom = disks(doc).find((d) => d.getAttribute('device') === 'cdrom' && cdromOf(d).bus === bus);
  if (!cdrom) {
    cdrom = el(doc, 'disk', { type: 'file', device: 'cdrom' });
    cdrom.appendChild(el(doc, 'driver', { name: 'qemu', type: 'raw' }));
    cdrom.appendChild(el(doc, 'target', { dev: freeTarget(doc, bus), bus }));
    cdrom.appendChild(el(doc, 'readonly'));
    const firstDisk = disks(doc)[0];
    // Next to the other disks: libvirt keeps its own order, but a reader expects disks together.
    devices.insertBefore(cdrom, firstDisk ? firstDisk.nextSibling : devices.firstChild);
  }
  for (const s of children(cdrom, 'source')) cdrom.removeChild(s);
  cdrom.setAttribute('type', 'file');
  const source = el(doc, 'source', { file: iso });
  cdrom.insertBefore(source, child(cdrom, 'target') ?? null);
  const target = child(cdrom, 'target')!.getAttribute('dev')!;

  const os = child(root, 'os')!;
  let bootStyle: 'os' | 'per-device';
  if (facts.bootStyle === 'per-device') {
    // Per-device form: the cdrom becomes 1, every other bootable device moves down one, order kept.
    bootStyle = 'per-device';
    for (const d of bootables(doc)
      .filter((d) => d !== cdrom)
      .sort((a, b) => (orderOf(a) ?? 0) - (orderOf(b) ?? 0))
      .reverse()) {
      child(d, 'boot')!.setAttribute('order', String((orderOf(d) ?? 0) + 1));
    }
    for (const b of children(cdrom, 'boot')) cdrom.removeChild(b);
    cdrom.appendChild(el(doc, 'boot', { order: '1' }));
  } else {
    bootStyle = 'os';
    for (const b of children(os, 'boot')) os.removeChild(b);
    for (const b of children(os, 'bootmenu')) os.removeChild(b);
    os.appendChild(el(doc, 'boot', { dev: 'cdrom' }));
    os.appendChild(el(doc, 'boot', { dev: 'hd' }));
    os.appendChild(el(doc, 'bootmenu', { enable: 'yes', timeout: '3000' }));
  }
  let onReboot = child(root, 'on_reboot');
  if (!onReboot) {
    onReboot = el(doc, 'on_reboot');
    root.insertBefore(onReboot, devices);
  }
  onReboot.textContent = 'destroy';
  return { xml: new XMLSerializer().serializeToString(doc), target, bus, bootStyle };
}

/** Whitespace between elements dropped, the rest as parsed: two definitions compare equal after this when libvirt would read them the same. */
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
  return new XMLSerializer().serializeToString(doc);
}

/**
 * The definition without its VNC/SPICE passwords (the `passwd` of every <graphics>), otherwise byte for byte
 * as libvirt wrote it: what the run's audit store keeps. Only a copy for people to read, never defined back.
 */
export function withoutPasswords(xml: string): string {
  return xml.replace(/(<graphics\b[^>]*\spasswd=)(['"])[^'"]*\2/g, '$1$2(kept on the hypervisor only)$2');
}
