#!/bin/sh
# labDrill's dangerous step: appends the time to ~/drill/<workflowId>.marker, after an optional delay
# (crash drills inside a one-shot step). Each execution adds one line, so a repeat is visible.
set -eu
run_id=$1
delay=${2:-0}
if [ "$delay" -gt 0 ]; then sleep "$delay"; fi
mkdir -p "$HOME/drill"
date -u +%FT%TZ >> "$HOME/drill/$run_id.marker"
echo "marker written on $(hostname)"
