# The source's end of a master restore: "all devices are both online and have passed a health check".
# A device's health is Good only after its health check passed; every device must be Good or Retired.
# Prints "HOSTNAME HEALTH" per device; exits 1 naming the others and how to run their health checks.
import csv
import io
import subprocess
import sys

out = subprocess.run(["lava-server", "manage", "devices", "list", "--all", "--csv"], check=True, capture_output=True, text=True).stdout
rows = [(r["hostname"], r["health"]) for r in csv.DictReader(io.StringIO(out))]
for hostname, health in rows:
    print(hostname + " " + health)
waiting = [h + " (" + health + ")" for h, health in rows if health not in ("Good", "Retired")]
if waiting:
    print(
        "no passed health check yet: " + ", ".join(waiting)
        + ": once its worker is online run `lava-server manage devices update --health UNKNOWN <hostname>`, wait for Good, then retry",
        file=sys.stderr,
    )
    sys.exit(1)
