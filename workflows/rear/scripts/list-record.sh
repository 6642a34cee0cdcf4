#!/bin/sh
# rearControllerRecovery, on the store: one host's runbook-record.json and its signature as they are
# (base64, for the worker to check; the store decides nothing), named "<host>/runbook-record.json" as the
# record names itself. Args: the host's directory, the host.
f=$1/runbook-record.json
content() { if [ -f "$1" ]; then printf '"%s"' "$(base64 -w0 < "$1")"; else printf null; fi; }
printf '{"items":[{"path":"%s/runbook-record.json","text":%s,"signature":%s}]}\n' "$2" "$(content "$f")" "$(content "$f.sig")"
