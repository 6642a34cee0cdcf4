// What a small but lived-in LAVA master holds, so backup and restore runbooks have something to lose:
// a qemu device type, worker lava-worker-1 with devices qemu01 and qemu02 (each with a device
// dictionary), an admin, three finished jobs with their output files, and the worker's token file and
// config as a worker host has them. Created through `lava-server manage` (the admin's tools) and, for
// the jobs, the Django ORM: they never ran on a board, their FINISHED/Complete state is set directly.
// Idempotent: one psql query tells what is there, and only the missing parts are made.
import { createHash } from 'node:crypto';
import { access, chown, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileIfChanged } from './layout.js';
import { lavaManageOk } from './lava-manage.js';
import { lavaIds, psqlAsPostgres, type LavaDatabase } from './lava-database.js';

export const DEVICE_TYPE = 'qemu';
export const WORKER_NAME = 'lava-worker-1';
export const DEVICES = ['qemu01', 'qemu02'] as const;
const ADMIN = 'admin';
const SEED_JOB_PREFIX = 'runbooks lab seed job';
/** Which device each seeded job "ran" on; three jobs, like a few days of a quiet lab. */
const SEED_JOB_DEVICES = ['qemu01', 'qemu02', 'qemu01'] as const;

export const DEVICE_DICTIONARY_DIR = '/etc/lava-server/dispatcher-config/devices';
export const WORKER_TOKEN_FILE = '/var/lib/lava/dispatcher/worker/token';
export const WORKER_CONFIG = '/etc/lava-dispatcher/lava-worker';
export const JOB_OUTPUT_ROOT = '/var/lib/lava-server/default/media/job-output';

const TESTJOB_STATE_FINISHED = 5;

/**
 * The stock qemu template asks for -cpu host -enable-kvm, which aborts on this VM's KVM (lab.md
 * section 3); no_kvm plus an explicit -accel kvm is what ran a real job here.
 */
function deviceDictionary(): string {
  return [
    '{# runbooks lab: written by scripts/lab/lava-seed.ts #}',
    "{% extends 'qemu.jinja2' %}",
    '{% set no_kvm = True %}',
    "{% set extra_options = ['-accel kvm'] %}",
    '',
  ].join('\n');
}

/** As in the package's /etc/lava-dispatcher/lava-worker, with the three settings a worker host fills in. */
function workerConfig(url: string): string {
  return [
    '# Configuration for lava-worker daemon (runbooks lab: scripts/lab/lava-seed.ts)',
    '',
    '# worker name',
    `WORKER_NAME="--name ${WORKER_NAME}"`,
    '',
    '# Logging level should be uppercase (DEBUG, INFO, WARN, ERROR)',
    '# LOGLEVEL="DEBUG"',
    '',
    '# Server connection',
    `URL="${url}"`,
    '# The token lives in this file (0600), never on the command line.',
    `TOKEN="--token-file ${WORKER_TOKEN_FILE}"`,
    '# WS_URL="--ws-url http://localhost/ws/"',
    '# HTTP_TIMEOUT="--http-timeout 600"',
    '# JOB_LOG_INTERVAL="--job-log-interval 5"',
    '',
  ].join('\n');
}

interface SeedState {
  deviceTypes: string[];
  workers: string[];
  devices: string[];
  admin: boolean;
  seedJobs: { id: number; day: string }[];
  jobs: number;
  tokenMd5: string | null;
}

export async function seedState(db: LavaDatabase): Promise<SeedState> {
  const out = await psqlAsPostgres(
    db.port,
    `SELECT json_build_object(
      'deviceTypes', (SELECT coalesce(json_agg(name ORDER BY name), '[]') FROM lava_scheduler_app_devicetype),
      'workers', (SELECT coalesce(json_agg(hostname ORDER BY hostname), '[]') FROM lava_scheduler_app_worker),
      'devices', (SELECT coalesce(json_agg(hostname ORDER BY hostname), '[]') FROM lava_scheduler_app_device),
      'admin', EXISTS (SELECT 1 FROM auth_user WHERE username = '${ADMIN}'),
      'seedJobs', (SELECT coalesce(json_agg(json_build_object('id', id, 'day', to_char(submit_time AT TIME ZONE 'UTC', 'YYYY/MM/DD')) ORDER BY id), '[]')
                   FROM lava_scheduler_app_testjob WHERE description LIKE '${SEED_JOB_PREFIX} %' AND state = ${TESTJOB_STATE_FINISHED}),
      'jobs', (SELECT count(*) FROM lava_scheduler_app_testjob),
      'tokenMd5', (SELECT md5(token) FROM lava_scheduler_app_worker WHERE hostname = '${WORKER_NAME}'));`,
    db.name,
  );
  return JSON.parse(out) as SeedState;
}

export function jobOutputFile(job: { id: number; day: string }): string {
  return path.join(JOB_OUTPUT_ROOT, job.day, String(job.id), 'output.yaml');
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

async function tokenFileMd5(): Promise<string | undefined> {
  const t = await readFile(WORKER_TOKEN_FILE, 'utf8').catch(() => undefined);
  return t === undefined ? undefined : createHash('md5').update(t).digest('hex');
}

/**
 * Runs inside `lava-server manage shell` as root: creates the missing seed jobs, their output files
 * (owned by lavaserver, as the scheduler would leave them) and the worker token file. The token goes
 * from the database straight into the file; it is never printed.
 */
const SEED_JOBS_PY = String.raw`
import datetime, json, os, shutil
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from lava_scheduler_app.models import Device, DeviceType, TestJob, Worker

PREFIX = ${JSON.stringify(SEED_JOB_PREFIX)}
DEVICES = ${JSON.stringify(SEED_JOB_DEVICES)}
TOKEN_FILE = ${JSON.stringify(WORKER_TOKEN_FILE)}
ROOT = os.path.join(settings.MEDIA_ROOT, "job-output")

DEFINITION = """device_type: qemu
job_name: {name}
timeouts:
  job:
    minutes: 10
  action:
    minutes: 5
priority: medium
visibility: public
context:
  arch: amd64
actions:
- deploy:
    to: tmpfs
    images:
      rootfs:
        url: file:///var/lib/lava-lab/boot-sector.img
        image_arg: -drive format=raw,file={{rootfs}}
- boot:
    method: qemu
    media: tmpfs
    prompts:
    - 'root@dr:~#'
"""

def make_dirs(path):
    missing = []
    cur = path
    while not os.path.isdir(cur):
        missing.append(cur)
        cur = os.path.dirname(cur)
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        shutil.chown(d, "lavaserver", "lavaserver")

def output_lines(job, device):
    t0 = job.start_time
    def at(s):
        return (t0 + datetime.timedelta(seconds=s)).isoformat(timespec="microseconds").replace("+00:00", "")
    entries = [
        (0, "info", "lava-dispatcher, installed at version: 2023.01"),
        (0, "info", "start: 0 validate"),
        (1, "info", "Start time: %s (UTC)" % t0.isoformat()),
        (1, "info", "validate duration: 0.02"),
        (2, "info", "start: 1 deploy (timeout 00:05:00) [common]"),
        (3, "info", "end: 1 deploy (duration 00:00:01) [common]"),
        (3, "info", "start: 2 boot (timeout 00:05:00) [common]"),
        (4, "target", "Linux version 6.1.0-fake"),
        (5, "info", "end: 2 boot (duration 00:00:02) [common]"),
        (6, "results", {"definition": "lava", "case": "job", "result": "pass"}),
    ]
    out = ["- " + json.dumps({"dt": at(0), "lvl": "debug", "msg": "device: %s" % device})]
    for s, lvl, msg in entries:
        out.append("- " + json.dumps({"dt": at(s), "lvl": lvl, "msg": msg}))
    return "\n".join(out) + "\n"

admin = User.objects.get(username="admin")
device_type = DeviceType.objects.get(name="qemu")
now = timezone.now().replace(microsecond=0)
result = {"jobs": []}
for i, hostname in enumerate(DEVICES, start=1):
    description = "%s %d" % (PREFIX, i)
    job = TestJob.objects.filter(description=description).first()
    if job is None:
        definition = DEFINITION.format(name=description)
        job = TestJob.objects.create(submitter=admin, description=description, definition=definition,
                                     original_definition=definition, requested_device_type=device_type,
                                     is_public=True)
    if job.state != TestJob.STATE_FINISHED:
        # One job a day, the latest finished an hour ago; submit_time is auto_now_add, hence update().
        end = now - datetime.timedelta(days=len(DEVICES) - i, hours=1)
        TestJob.objects.filter(pk=job.pk).update(
            actual_device=Device.objects.get(hostname=hostname), state=TestJob.STATE_FINISHED,
            health=TestJob.HEALTH_COMPLETE, submit_time=end - datetime.timedelta(minutes=3),
            start_time=end - datetime.timedelta(minutes=2), end_time=end)
        job.refresh_from_db()
    out_dir = job.output_dir
    make_dirs(out_dir)
    out_file = os.path.join(out_dir, "output.yaml")
    if not os.path.exists(out_file):
        with open(out_file, "w", encoding="utf-8") as f:
            f.write(output_lines(job, hostname))
        shutil.chown(out_file, "lavaserver", "lavaserver")
    result["jobs"].append(job.id)

token = Worker.objects.get(hostname=${JSON.stringify(WORKER_NAME)}).token
os.makedirs(os.path.dirname(TOKEN_FILE), mode=0o755, exist_ok=True)
old = None
if os.path.exists(TOKEN_FILE):
    with open(TOKEN_FILE, encoding="utf-8") as f:
        old = f.read()
result["tokenChanged"] = old != token
if old != token:
    tmp = TOKEN_FILE + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token)
    os.replace(tmp, TOKEN_FILE)
os.chmod(TOKEN_FILE, 0o600)
print("LAB-SEED " + json.dumps(result))
`;

export interface SeedResult {
  devices: string[];
  workers: string[];
  jobs: number;
  /** The worker's token file was (re)written: a running lava-worker must restart to pick it up. */
  tokenChanged: boolean;
}

export async function seedLava(db: LavaDatabase, workerUrl: string): Promise<SeedResult> {
  for (const d of DEVICES) {
    await writeFileIfChanged(path.join(DEVICE_DICTIONARY_DIR, `${d}.jinja2`), deviceDictionary(), 0o644);
    await chown(path.join(DEVICE_DICTIONARY_DIR, `${d}.jinja2`), ...(await lavaIds()));
  }
  await mkdir(path.dirname(WORKER_CONFIG), { recursive: true });
  await writeFileIfChanged(WORKER_CONFIG, workerConfig(workerUrl), 0o644);

  let st = await seedState(db);
  if (!st.deviceTypes.includes(DEVICE_TYPE)) await lavaManageOk(['device-types', 'add', DEVICE_TYPE]);
  // Prints the new worker's token: captured and dropped, the shell script below writes it to its file.
  if (!st.workers.includes(WORKER_NAME)) await lavaManageOk(['workers', 'add', WORKER_NAME]);
  for (const d of DEVICES) {
    if (!st.devices.includes(d)) await lavaManageOk(['devices', 'add', '--device-type', DEVICE_TYPE, '--worker', WORKER_NAME, d]);
  }
  // Prints a random password, likewise dropped: nobody logs in as admin in the lab.
  if (!st.admin) await lavaManageOk(['users', 'add', ADMIN, '--superuser', '--staff', '--email', 'admin@lab.invalid']);

  const outputsThere = (await Promise.all(st.seedJobs.map((j) => exists(jobOutputFile(j))))).every(Boolean);
  const tokenInSync = st.tokenMd5 !== null && st.tokenMd5 === (await tokenFileMd5());
  let tokenChanged = false;
  if (st.seedJobs.length < SEED_JOB_DEVICES.length || !outputsThere || !tokenInSync) {
    const out = await lavaManageOk(['shell', '-c', SEED_JOBS_PY]);
    const line = out.split('\n').find((l) => l.startsWith('LAB-SEED '));
    if (!line) throw new Error(`the seed script printed no result:\n${out.slice(-2000)}`);
    tokenChanged = (JSON.parse(line.slice('LAB-SEED '.length)) as { tokenChanged: boolean }).tokenChanged;
    st = await seedState(db);
  }
  return { devices: st.devices, workers: st.workers, jobs: st.jobs, tokenChanged };
}
