#!/usr/bin/env python3
# Seals a backup bundle: the worker wrote and signed the manifest (every file's size and sha256 as it
# streamed them); this refuses unless the files on disk are exactly those, then writes manifest.json and
# manifest.json.sig byte for byte, makes files 0600 and directories 0700 and renames <bundle>.partial to
# its final name. Run again after the rename (a crash), it reports the sealed bundle instead of failing.
# Arguments: the .partial directory, the final directory. Stdin: {"text": manifest, "signature": sig}.
import hashlib, json, os, sys
tmp, final, signed = sys.argv[1], sys.argv[2], json.load(sys.stdin)
meta = json.loads(signed['text'])
if os.path.isdir(final) and not os.path.isdir(tmp):
    print(json.dumps({'bundle': final, 'files': len(meta['files']) + 2}))
    sys.exit(0)
files = {}
for root, _, names in os.walk(tmp):
    for n in sorted(names):
        p = os.path.join(root, n); h = hashlib.sha256()
        with open(p, 'rb') as f:
            for b in iter(lambda: f.read(1 << 20), b''): h.update(b)
        files[os.path.relpath(p, tmp)] = {'size': os.path.getsize(p), 'sha256': h.hexdigest()}
files.pop('manifest.json', None); files.pop('manifest.json.sig', None)
if files != meta['files']:
    bad = sorted(n for n in set(files) | set(meta['files']) if files.get(n) != meta['files'].get(n))
    sys.exit('on the store, %s differ from what was streamed' % ', '.join(bad))
with open(os.path.join(tmp, 'manifest.json'), 'w') as f: f.write(signed['text'])
with open(os.path.join(tmp, 'manifest.json.sig'), 'w') as f: f.write(signed['signature'])
for root, dirs, names in os.walk(tmp):
    for n in names: os.chmod(os.path.join(root, n), 0o600)
    for d in dirs: os.chmod(os.path.join(root, d), 0o700)
os.chmod(tmp, 0o700)
os.rename(tmp, final)
print(json.dumps({'bundle': final, 'files': len(files) + 2}))
