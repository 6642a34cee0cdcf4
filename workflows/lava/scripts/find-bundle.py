#!/usr/bin/env python3
# Which bundle a restore or a verification works on: a path, or "latest" (the newest sealed bundle under
# the root, of one host or of any). Prints the bundle and its sealed siblings (same directory), newest first.
# Arguments: root, "latest" or a bundle, the sealed-name pattern, [host].
import json, os, re, sys
root, want, sealed = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
host = sys.argv[4] if len(sys.argv) > 4 else ''
def bundles(d):
    return sorted((os.path.join(d, n) for n in os.listdir(d) if sealed.match(n) and os.path.isdir(os.path.join(d, n))), key=os.path.basename, reverse=True) if os.path.isdir(d) else []
if want == 'latest':
    hosts = [host] if host else (sorted(os.listdir(root)) if os.path.isdir(root) else [])
    every = [b for h in hosts for b in bundles(os.path.join(root, h))]
    if not every: sys.exit('no sealed bundle under %s' % os.path.join(root, host))
    bundle = max(every, key=os.path.basename)
else:
    bundle = os.path.normpath(os.path.join(root, host, want) if host and sealed.match(want) else want)
    if not os.path.isdir(bundle): sys.exit('no bundle %s on the store' % bundle)
print(json.dumps({'bundle': bundle, 'siblings': bundles(os.path.dirname(bundle))}))
