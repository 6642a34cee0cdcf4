#!/usr/bin/env python3
# The seed: every bundle must hold the same set of files as the one fully tested. Prints, per sibling
# that differs, the files it lacks and the files it has extra (at most 20 bundles, then a count).
# Arguments: the tested bundle, then its siblings.
import json, os, re, sys
tested, others = sys.argv[1], sys.argv[2:]
# Names without ".age": a bundle encrypted at rest holds the same files as a plain one.
def names(b): return {re.sub(r'\.age$', '', os.path.relpath(os.path.join(r, n), b)) for r, _, ns in os.walk(b) for n in ns}
want = names(tested)
diffs = []
for o in others:
    if o == tested: continue
    have = names(o)
    if have != want:
        diffs.append({'bundle': os.path.basename(o), 'missing': sorted(want - have), 'extra': sorted(have - want)})
print(json.dumps({'compared': len([o for o in others if o != tested]), 'differ': len(diffs), 'diffs': diffs[:20]}))
