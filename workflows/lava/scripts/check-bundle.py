#!/usr/bin/env python3
# Checks every file of a bundle's manifest: present, same size, same sha256; and nothing on disk that the
# manifest does not list. Prints the problems by file name (a finding, not an error: exit 0) and the
# manifest's summary. Arguments: the bundle directory, the sha256 of the manifest whose signature the worker
# checked (a manifest changed since is refused: the checks below would trust it).
import hashlib, json, os, sys
b, signed = sys.argv[1], sys.argv[2]
out = {'bundle': b, 'problems': [], 'files': 0, 'manifest': {}}
try:
    with open(os.path.join(b, 'manifest.json'), 'rb') as f: raw = f.read()
    if hashlib.sha256(raw).hexdigest() != signed:
        out['problems'].append('manifest.json is not the manifest whose signature was checked (changed since)'); print(json.dumps(out)); sys.exit(0)
    m = json.loads(raw)
    files = m['files']
except FileNotFoundError:
    out['problems'].append('manifest.json is missing'); print(json.dumps(out)); sys.exit(0)
except Exception as e:
    out['problems'].append('manifest.json is unreadable: %s' % e); print(json.dumps(out)); sys.exit(0)
out['files'] = len(files)
out['manifest'] = {k: m.get(k) for k in ('runbook', 'runbookVersion', 'createdAt', 'rows', 'database', 'encryption', 'dumpFormat')}
for name, f in sorted(files.items()):
    p = os.path.join(b, name)
    if not os.path.isfile(p):
        out['problems'].append('%s is missing' % name); continue
    size = os.path.getsize(p)
    if size != f['size']:
        out['problems'].append('%s is %d bytes, the manifest says %d (truncated or grown)' % (name, size, f['size'])); continue
    h = hashlib.sha256()
    with open(p, 'rb') as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b''): h.update(chunk)
    if h.hexdigest() != f['sha256']:
        out['problems'].append('%s: sha256 %s… differs from the manifest %s… (corrupted)' % (name, h.hexdigest()[:12], f['sha256'][:12]))
on_disk = {os.path.relpath(os.path.join(r, n), b) for r, _, ns in os.walk(b) for n in ns} - {'manifest.json', 'manifest.json.sig'}
for extra in sorted(on_disk - set(files)):
    out['problems'].append('%s is not in the manifest' % extra)
print(json.dumps(out))
