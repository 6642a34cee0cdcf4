#!/usr/bin/env python3
# The sealed bundles a restore, a verification or a retention run may choose from, with each one's
# manifest.json and manifest.json.sig as they are on the store (base64). The store chooses nothing: the
# worker checks the signatures and picks "latest" by the signed creation time, never by directory name.
# Arguments: root, "latest" or a bundle (a path, or with host a bare name), the sealed-name pattern, [host].
import base64, json, os, re, sys
root, want, sealed = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
host = sys.argv[4] if len(sys.argv) > 4 else ''
if want == 'latest':
    dirs = [os.path.join(root, host)] if host else ([os.path.join(root, h) for h in sorted(os.listdir(root))] if os.path.isdir(root) else [])
else:
    dirs = [os.path.dirname(os.path.normpath(os.path.join(root, host, want) if host and sealed.match(want) else want))]
def content(p):
    try:
        with open(p, 'rb') as f: return base64.b64encode(f.read()).decode()
    except FileNotFoundError: return None
items = []
for d in dirs:
    if not os.path.isdir(d): continue
    for n in sorted(os.listdir(d)):
        b = os.path.join(d, n)
        if sealed.match(n) and os.path.isdir(b):
            items.append({'path': b, 'text': content(os.path.join(b, 'manifest.json')), 'signature': content(os.path.join(b, 'manifest.json.sig'))})
print(json.dumps({'items': items}))
