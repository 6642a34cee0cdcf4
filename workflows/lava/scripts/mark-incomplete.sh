#!/bin/sh
# A backup run that did not finish: its <bundle>.partial becomes <bundle>.incomplete with the reason in
# INCOMPLETE, so it is never counted as a backup nor mistaken for one still being written.
# Arguments: the bundle (without .partial), the reason.
if [ -d "$1.partial" ]; then
  printf "%s\n" "$2" > "$1.partial/INCOMPLETE" && mv -- "$1.partial" "$1.incomplete" && echo "marked $1.incomplete"
else
  echo "nothing to mark"
fi
