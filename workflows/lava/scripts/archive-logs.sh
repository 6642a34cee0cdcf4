#!/bin/sh
# The source's "service log files" as a tar stream on stdout: the given paths (relative to /, the present
# ones), read while the services may still write them. A log that grows during the read is normal (GNU
# tar's exit 1, "file changed as we read it") and is kept as read; any other failure fails the stream.
# No path present: an empty archive. Arguments: the paths.
if [ $# -eq 0 ]; then exec tar -cf - -T /dev/null; fi
tar -C / --warning=no-file-changed -cf - -- "$@"
rc=$?
[ "$rc" -le 1 ] || exit "$rc"
