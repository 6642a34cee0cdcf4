#!/usr/bin/env python3
# Selected fields of a bundle's manifest, compact: a command's output tail is 4 KB. Refuses a manifest that
# is not the one whose signature the worker checked. Arguments: the bundle directory, its sha256, the keys.
import hashlib, json, os, sys
with open(os.path.join(sys.argv[1], 'manifest.json'), 'rb') as f: raw = f.read()
if hashlib.sha256(raw).hexdigest() != sys.argv[2]:
    sys.exit('manifest.json is not the manifest whose signature was checked (changed since): refused')
m = json.loads(raw)
print(json.dumps({k: m.get(k) for k in sys.argv[3:]}, separators=(',', ':')))
