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

/** What makes a throwaway copy of a domain its own machine (rearRecoveryDrill). */
export interface DrillPlan {
  name: string;
  uuid: string;
  /** Its disks are `<prefix>.<target>.qcow2`, its serial log `<prefix>.serial.log`. */
  prefix: string;
  /** Names the run: remove-drill.sh removes only a domain whose description holds it. */
  description: string;
  /** The host port of a user-mode NIC's SSH forward (the lab's controller); the original's would clash. */
  sshPort?: number;
  /** A libvirt network for every NIC that would otherwise join the original's (an isolated one). */
  network?: string;
}

export interface DrillDefinition {
  xml: string;
  /** Each disk of the original, by target, with the new file the copy writes instead. */
  disks: { target: string; source: string; path: string }[];
  serialLog: string;
}

/**
 * The original's definition made into a new machine that touches nothing of it: another name and UUID, an
 * empty qcow2 per disk (the recovery fills it), no cdroms, new MACs (libvirt makes them), a serial log of its
 * own, graphics on a free port. Refused where a copy would share something with the original while it runs:
 * a passed-through device, a host directory, a NIC on the original's network without `network`, a block
 * device it cannot replace. A copy needs a serial console: the drill reads its boot there.
 */
export function drillDefinition(xml: string, p: DrillPlan): DrillDefinition {
  const doc = parse(xml);
  const root = doc.documentElement!;
  const devices = devicesOf(doc);
  const setText = (tag: string, text: string): void => {
    let e = child(root, tag);
    if (!e) {
      e = el(doc, tag);
      root.insertBefore(e, child(root, 'name')?.nextSibling ?? root.firstChild);
    }
    e.textContent = text;
  };
  setText('name', p.name);
  setText('uuid', p.uuid);
  setText('description', p.description);
  for (const t of ['title', 'genid']) for (const e of children(root, t)) root.removeChild(e);
  // A UEFI variable store is per machine: libvirt makes a new one from its template.
  for (const n of children(child(root, 'os'), 'nvram')) child(root, 'os')!.removeChild(n);

  const disks: DrillDefinition['disks'] = [];
  for (const d of children(devices, 'disk')) {
    const device = d.getAttribute('device') ?? 'disk';
    if (device === 'cdrom' || device === 'floppy') {
      devices.removeChild(d);
      continue;
    }
    const target = child(d, 'target')?.getAttribute('dev') ?? '';
    if (device !== 'disk' || !/^[a-z]{2,4}[a-z0-9]*$/.test(target))
      throw new DomainXmlError(`disk ${target || '(no target)'} (${device}) cannot be copied for a drill`);
    const src = child(d, 'source');
    const source = src?.getAttribute('file') ?? src?.getAttribute('dev') ?? src?.getAttribute('name') ?? '';
    if (!source) throw new DomainXmlError(`disk ${target} has no source to size the copy from`);
    const path = `${p.prefix}.${target}.qcow2`;
    for (const e of [...children(d, 'source'), ...children(d, 'backingStore'), ...children(d, 'driver'), ...children(d, 'serial'), ...children(d, 'wwn')])
      d.removeChild(e);
    d.setAttribute('type', 'file');
    d.insertBefore(el(doc, 'source', { file: path }), d.firstChild);
    d.insertBefore(el(doc, 'driver', { name: 'qemu', type: 'qcow2' }), d.firstChild);
    disks.push({ target, source, path });
  }
  if (!disks.length) throw new DomainXmlError('the domain has no disk: nothing to recover into');

  for (const tag of ['hostdev', 'filesystem', 'smartcard', 'redirdev'])
    if (children(devices, tag).length) throw new DomainXmlError(`the domain has a <${tag}>: a copy would share it with the original; a drill refuses it`);
  for (const nic of children(devices, 'interface')) {
    for (const m of children(nic, 'mac')) nic.removeChild(m);
    for (const t of children(nic, 'target')) nic.removeChild(t);
    const type = nic.getAttribute('type') ?? '';
    if (type === 'user') continue;
    if (!p.network)
      throw new DomainXmlError(
        `network: the domain's ${type} NIC would put the copy on the original's network with its address; give "network" (an isolated libvirt network) for the copy`,
      );
    for (const s of children(nic, 'source')) nic.removeChild(s);
    nic.setAttribute('type', 'network');
    nic.insertBefore(el(doc, 'source', { network: p.network }), nic.firstChild);
  }
  // QEMU arguments passed through (the lab's user-mode NIC): the original's SSH forward would clash.
  const qemuNs = 'http://libvirt.org/schemas/domain/qemu/1.0';
  for (const cl of Array.from(root.getElementsByTagNameNS(qemuNs, 'commandline') as unknown as Element[]))
    for (const arg of Array.from(cl.getElementsByTagNameNS(qemuNs, 'arg') as unknown as Element[])) {
      const v = arg.getAttribute('value') ?? '';
      if (!/hostfwd=/.test(v)) continue;
      arg.setAttribute(
        'value',
        p.sshPort
          ? v.replace(/(hostfwd=tcp:[0-9.]*:)\d+(-[^,]*:22)\b/, `$1${p.sshPort}$2`)
          : v
              .split(',')
              .filter((o) => !o.startsWith('hostfwd='))
              .join(','),
      );
    }

  const serials = children(devices, 'serial');
  if (!serials.length) throw new DomainXmlError('the domain has no serial console: the drill reads the copy’s recovery and boot there');
  const serialLog = `${p.prefix}.serial.log`;
  for (const s of serials.slice(1)) devices.removeChild(s);
  const serial = serials[0]!;
  if (serial.getAttribute('type') === 'file') {
    for (const s of children(serial, 'source')) s.setAttribute('path', serialLog);
  } else {
    for (const l of children(serial, 'log')) serial.removeChild(l);
    serial.appendChild(el(doc, 'log', { file: serialLog, append: 'on' }));
  }
  for (const g of children(devices, 'graphics')) {
    for (const a of ['port', 'tlsPort', 'websocket']) g.removeAttribute(a);
    g.setAttribute('autoport', 'yes');
  }
  // Sockets the original owns (channels, monitors by path) would be taken from it: libvirt picks new ones.
  for (const c of children(devices, 'channel'))
    for (const s of children(c, 'source')) if (s.getAttribute('path') && s.getAttribute('mode') === 'bind') s.removeAttribute('path');
  return { xml: new XMLSerializer().serializeToString(doc), disks, serialLog };
}
