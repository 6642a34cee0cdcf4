// The hypervisor side of rearControllerRecovery: reading a domain's definitions and writing the edited
// one, over SSH on the hypervisor host (where virsh reaches the local libvirtd). The XML is parsed and
// edited here, on the worker, with an XML library; the workflow only sees the facts. Definitions are
// written to files on the hypervisor (what `virsh define` reads) and copied to the run's audit store.
// Plain virsh calls (shutdown, define, start) stay ordinary remote steps in the runbook.
import { createHash, randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../../workers/config.js';
import type { AuditStore } from '../runbook/audit-store.js';
import {
  domainFacts,
  drillDefinition,
  DomainXmlError,
  nativeFirstBoot,
  normaliseDomainXml,
  rescueDefinition,
  withoutPasswords,
  type DomainFacts,
  type DrillPlan,
} from './libvirt-xml.js';
import { remoteLine } from '../ssh/shell-quote.js';
import type { SshPool } from '../ssh/ssh.js';

/** How the worker reaches libvirt on a hypervisor (worker config `libvirt`); never from a run's input. */
export interface LibvirtSettings {
  /** `virsh -c`; null = virsh's own default on the hypervisor (uri_default in libvirt.conf). */
  uri: string | null;
  /** virsh through `sudo -n` (qemu:///system needs root, or the libvirt group). */
  sudo: boolean;
  /** Where rescue ISOs and saved definitions go on the hypervisor; QEMU must be able to read it. */
  isoDir: string;
}

export interface DomainRead {
  hypervisor: string;
  domain: string;
  settings: LibvirtSettings;
  /** Also ask libvirt what QEMU would boot first (`virsh domxml-to-native qemu-argv`), not only our parse. */
  native?: boolean;
}

export interface DomainState {
  state: string;
  /** The persistent definition (what the next start uses). */
  inactive: DomainFacts;
  /** What runs now; only while the domain is running. */
  live?: DomainFacts;
  /** With `native`: the device holding bootindex 1 in libvirt's QEMU command line ("file:<path>", "empty", "none"). */
  nativeFirstBoot?: string;
}

export interface SavedDefinition {
  path: string;
  sha256: string;
  bytes: number;
  /** Found already saved by this run (a retry): never dumped again, the domain may be edited by now. */
  reused: boolean;
  facts: DomainFacts;
}

export interface DrillRequest extends DomainRead, Omit<DrillPlan, 'uuid'> {
  /** Where the copy's definition (from its disk) and its rescue definition (ISO first) are written. */
  path: string;
  rescuePath: string;
  iso: string;
  keyIso: string;
}

export interface WrittenDrill {
  name: string;
  uuid: string;
  path: string;
  rescuePath: string;
  /** The copy's disks: each as large as the original's (virsh domblkinfo), empty until the recovery. */
  disks: { target: string; path: string; bytes: number }[];
  serialLog: string;
  rescue: { target: string; bus: string; bootStyle: string };
  facts: DomainFacts;
}

export interface WrittenDefinition {
  path: string;
  sha256: string;
  target: string;
  bus: string;
  bootStyle: string;
  facts: DomainFacts;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export function makeLibvirtActivities(ssh: SshPool, audit: AuditStore, config: WorkerConfig) {
  async function run(host: string, argv: string[], s: LibvirtSettings, stdin?: string): Promise<{ code: number; out: string; err: string }> {
    const full = s.sudo ? ['sudo', '-n', '--', ...argv] : argv;
    let out = '';
    let err = '';
    const r = await ssh.exec(host, remoteLine(full), { stdout: (b) => (out += b), stderr: (b) => (err += b), stdin });
    return { code: r.code ?? 255, out, err };
  }
  const virsh = (s: LibvirtSettings, args: string[]): string[] => ['virsh', ...(s.uri ? ['-c', s.uri] : []), ...args];
  async function must(host: string, argv: string[], s: LibvirtSettings, stdin?: string): Promise<string> {
    const r = await run(host, argv, s, stdin);
    if (r.code !== 0) {
      throw ApplicationFailure.create({
        message: `${host}$ ${argv.join(' ')}: exit ${r.code}: ${(r.err || r.out).trim().slice(-300)}`,
        type: 'CommandFailed',
        nonRetryable: true,
      });
    }
    return r.out;
  }
  const facts = (xml: string): DomainFacts => {
    try {
      return domainFacts(xml);
    } catch (err) {
      if (err instanceof DomainXmlError) throw ApplicationFailure.create({ message: err.message, type: 'CheckFailed', nonRetryable: true });
      throw err;
    }
  };
  const workflowId = (): string => Context.current().info.workflowExecution?.workflowId ?? 'no-workflow';

  return {
    async libvirtSettings(): Promise<LibvirtSettings> {
      return { uri: config.libvirt.uri, sudo: config.libvirt.sudo, isoDir: config.libvirt.isoDir };
    },

    /** State and both definitions of a domain. A missing domain fails with virsh's own words. */
    async readDomain(req: DomainRead): Promise<DomainState> {
      const s = req.settings;
      const state = (await must(req.hypervisor, virsh(s, ['domstate', req.domain]), s)).trim();
      const inactive = facts(await must(req.hypervisor, virsh(s, ['dumpxml', '--inactive', req.domain]), s));
      const live = state === 'running' ? facts(await must(req.hypervisor, virsh(s, ['dumpxml', req.domain]), s)) : undefined;
      if (!req.native) return { state, inactive, live };
      const argv = await must(req.hypervisor, virsh(s, ['domxml-to-native', 'qemu-argv', '--domain', req.domain]), s);
      return { state, inactive, live, nativeFirstBoot: nativeFirstBoot(argv) };
    },

    /** The seed's `virsh dumpxml controller-0 > controller-0.xml.bak`, once per run (kept if already saved). */
    async saveDomainDefinition(req: DomainRead & { path: string }): Promise<SavedDefinition> {
      const s = req.settings;
      const existing = await run(req.hypervisor, ['cat', '--', req.path], s);
      let xml = existing.out;
      const reused = existing.code === 0 && xml.length > 0;
      if (!reused) {
        // --security-info: without it virsh leaves out VNC/SPICE passwords, and defining the saved copy back
        // would drop them from the domain. The file stays on the hypervisor (0600); the audit copy has none.
        xml = await must(req.hypervisor, virsh(s, ['dumpxml', '--inactive', '--security-info', req.domain]), s);
        await must(req.hypervisor, ['sh', '-c', 'umask 077 && cat > "$1.partial" && mv -f -- "$1.partial" "$1"', 'save-definition', req.path], s, xml);
      }
      audit.saveFile(workflowId(), `${req.domain}.xml.bak`, withoutPasswords(xml));
      return { path: req.path, sha256: sha256(xml), bytes: Buffer.byteLength(xml), reused, facts: facts(xml) };
    },

    /** Reads the saved definition, edits it for the rescue boot, writes it next to it for `virsh define`. */
    async writeRescueDefinition(req: DomainRead & { savedPath: string; path: string; iso: string; keyIso?: string }): Promise<WrittenDefinition> {
      const s = req.settings;
      const saved = await must(req.hypervisor, ['cat', '--', req.savedPath], s);
      let edit;
      try {
        edit = rescueDefinition(saved, req.iso, req.keyIso);
      } catch (err) {
        if (err instanceof DomainXmlError) throw ApplicationFailure.create({ message: err.message, type: 'CheckFailed', nonRetryable: true });
        throw err;
      }
      await must(req.hypervisor, ['sh', '-c', 'umask 077 && cat > "$1.partial" && mv -f -- "$1.partial" "$1"', 'write-definition', req.path], s, edit.xml);
      audit.saveFile(workflowId(), `${req.domain}.rescue.xml`, withoutPasswords(edit.xml));
      return { path: req.path, sha256: sha256(edit.xml), target: edit.target, bus: edit.bus, bootStyle: edit.bootStyle, facts: facts(edit.xml) };
    },

    /**
     * rearRecoveryDrill: the original's definition (read, never changed) made into a throwaway copy with
     * new disks of the same sizes, and the copy's rescue definition; both written on the hypervisor.
     */
    async writeDrillDefinition(req: DrillRequest): Promise<WrittenDrill> {
      const s = req.settings;
      const original = await must(req.hypervisor, virsh(s, ['dumpxml', '--inactive', '--security-info', req.domain]), s);
      // A new UUID per attempt: nothing is defined with it before this step's result is recorded.
      const uuid = randomUUID();
      let drill, rescue;
      try {
        drill = drillDefinition(original, { ...req, uuid });
        rescue = rescueDefinition(drill.xml, req.iso, req.keyIso);
      } catch (err) {
        if (err instanceof DomainXmlError) throw ApplicationFailure.create({ message: err.message, type: 'CheckFailed', nonRetryable: true });
        throw err;
      }
      const disks = [];
      for (const d of drill.disks) {
        const info = await must(req.hypervisor, virsh(s, ['domblkinfo', req.domain, d.target]), s);
        const bytes = Number(/^Capacity:\s+(\d+)/m.exec(info)?.[1]);
        if (!(bytes > 0))
          throw ApplicationFailure.create({ message: `virsh domblkinfo ${req.domain} ${d.target} gave no capacity`, type: 'CheckFailed', nonRetryable: true });
        disks.push({ target: d.target, path: d.path, bytes });
      }
      const write = 'umask 077 && cat > "$1.partial" && mv -f -- "$1.partial" "$1"';
      await must(req.hypervisor, ['sh', '-c', write, 'write-definition', req.path], s, drill.xml);
      await must(req.hypervisor, ['sh', '-c', write, 'write-definition', req.rescuePath], s, rescue.xml);
      audit.saveFile(workflowId(), `${req.name}.xml`, withoutPasswords(drill.xml));
      audit.saveFile(workflowId(), `${req.name}.rescue.xml`, withoutPasswords(rescue.xml));
      return {
        name: req.name,
        uuid,
        path: req.path,
        rescuePath: req.rescuePath,
        disks,
        serialLog: drill.serialLog,
        rescue: { target: rescue.target, bus: rescue.bus, bootStyle: rescue.bootStyle },
        facts: facts(drill.xml),
      };
    },

    /** The persistent definition now against the saved one, both normalised (whitespace between elements). */
    async compareDefinition(req: DomainRead & { savedPath: string }): Promise<{ equal: boolean; now: string; saved: string }> {
      const s = req.settings;
      const saved = normaliseDomainXml(await must(req.hypervisor, ['cat', '--', req.savedPath], s));
      const now = normaliseDomainXml(await must(req.hypervisor, virsh(s, ['dumpxml', '--inactive', '--security-info', req.domain]), s));
      return { equal: saved === now, now: sha256(now), saved: sha256(saved) };
    },
  };
}
