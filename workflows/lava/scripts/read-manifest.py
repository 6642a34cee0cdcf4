#!/usr/bin/env python3
# Selected fields of a bundle's manifest, compact: a command's output tail is 4 KB.
# Arguments: the bundle directory, then the keys.
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], 'manifest.json')))
print(json.dumps({k: m.get(k) for k in sys.argv[2:]}, separators=(',', ':')))
