#!/bin/sh
# The worker's name as lava-worker takes it: WORKER_NAME="--name X" in its config, else the host name.
n=$(sed -n 's/^WORKER_NAME="--name \(.*\)"$/\1/p' /etc/lava-dispatcher/lava-worker 2>/dev/null | tail -n 1)
echo "${n:-$(hostname -f)}"
