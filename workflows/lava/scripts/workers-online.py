# Waits (bounded) until every worker of the restored database that is not retired and has devices shows
# Online on the master: the source restores workers "whilst the master remains invisible" and reopens only
# after that. A worker without devices (postinst's example.com) runs no job and is only listed.
# Prints "online NAME" / "offline NAME" / "no devices NAME" per worker; exits 1 if one is still offline.
# Argument: the seconds to wait.
import csv
import io
import subprocess
import sys
import time


def workers():
    out = subprocess.run(["lava-server", "manage", "workers", "list", "--csv"], check=True, capture_output=True, text=True).stdout
    return [(r["hostname"], r["state"] if r["devices"] != "0" else "no devices") for r in csv.DictReader(io.StringIO(out))]


deadline = time.monotonic() + float(sys.argv[1])
while True:
    found = workers()
    offline = [name for name, state in found if state not in ("Online", "no devices")]
    if not offline or time.monotonic() > deadline:
        break
    time.sleep(1)
for name, state in found:
    print({"Online": "online ", "no devices": "no devices "}.get(state, "offline ") + name)
if offline:
    print(
        "workers not online: " + ", ".join(offline) + ": restore each with lavaWorkerRestore (or start its lava-worker), then retry",
        file=sys.stderr,
    )
    sys.exit(1)
