#!/usr/bin/env python3
# Seals a backup bundle: writes manifest.json (every file with size and sha256, plus what the runbook
# measured, read from stdin), refuses when a streamed file on disk is not what was streamed, then makes
# files 0600 and directories 0700 and renames <bundle>.partial to its final name. Run again after the
# rename (a crash), it reports the sealed bundle instead of failing.
# Arguments: the .partial directory, the final directory.
import hashlib, json, os, sys
tmp, final, meta = sys.argv[1], sys.argv[2], json.load(sys.stdin)
if os.path.isdir(final) and not os.path.isdir(tmp):
    print(json.dumps({'bundle': final, 'files': len(json.load(open(os.path.join(final, 'manifest.json')))['files']) + 1}))
    sys.exit(0)
files = {}
for root, _, names in os.walk(tmp):
    for n in sorted(names):
        p = os.path.join(root, n); h = hashlib.sha256()
        with open(p, 'rb') as f:
            for b in iter(lambda: f.read(1 << 20), b''): h.update(b)
        files[os.path.relpath(p, tmp)] = {'size': os.path.getsize(p), 'sha256': h.hexdigest()}
files.pop('manifest.json', None)
for name, expect in meta.get('streamed', {}).items():
    if files.get(name, {}).get('sha256') != expect:
        sys.exit('%s on the store differs from what was streamed' % name)
meta['files'] = files
with open(os.path.join(tmp, 'manifest.json'), 'w') as f: json.dump(meta, f, indent=2, sort_keys=True)
for root, dirs, names in os.walk(tmp):
    for n in names: os.chmod(os.path.join(root, n), 0o600)
    for d in dirs: os.chmod(os.path.join(root, d), 0o700)
os.chmod(tmp, 0o700)
os.rename(tmp, final)
print(json.dumps({'bundle': final, 'files': len(files) + 1}))
