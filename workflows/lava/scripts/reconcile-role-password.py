#!/usr/bin/env python3
# pg_dump carries no roles: the restored settings may hold another password than the role has. Sets the
# role's password from the settings without ever printing it: psql reads the statement from stdin.
# Arguments: the PostgreSQL port, the role.
import configparser, glob, os, subprocess, sys, yaml
port, user = sys.argv[1], sys.argv[2]
pw = None
if os.path.exists('/etc/lava-server/instance.conf'):
    c = configparser.ConfigParser(); c.read_string('[i]\n' + open('/etc/lava-server/instance.conf').read())
    pw = c['i'].get('LAVA_DB_PASSWORD')
for f in ['/etc/lava-server/settings.conf', '/etc/lava-server/settings.yaml'] + sorted(glob.glob('/etc/lava-server/settings.d/*.yaml')):
    if os.path.exists(f):
        d = ((yaml.safe_load(open(f)) or {}).get('DATABASES') or {}).get('default') or {}
        pw = d.get('PASSWORD', pw)
if not pw:
    print('no database password in the settings: peer authentication, nothing to reconcile'); sys.exit(0)
sql = 'ALTER ROLE "%s" PASSWORD \'%s\';' % (user.replace('"', ''), str(pw).replace("'", "''"))
r = subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-p', port, '-d', 'postgres', '-f', '-'], input=sql, text=True, capture_output=True)
if r.returncode: sys.exit('ALTER ROLE failed: ' + r.stderr.replace(str(pw), '…').strip())
print('password of role %s set from the restored settings' % user)
