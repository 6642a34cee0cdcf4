#!/bin/sh
# The device lines of `lava-server manage devices list` for each health asked for (flags UPPERCASE).
for h in "$@"; do
  lava-server manage devices list --health "$h" | grep "^\*" || true
done
