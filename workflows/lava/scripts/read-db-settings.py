#!/usr/bin/env python3
# The LAVA master's database name, user, host and port, read the way lava_server/settings/prod.py reads
# them (instance.conf, then settings.conf, settings.yaml, settings.d/*.yaml, later wins), printed as JSON
# WITHOUT the password: the password never leaves the master.
import glob, json, yaml, configparser, os
db = {}
if os.path.exists('/etc/lava-server/instance.conf'):
    c = configparser.ConfigParser(); c.read_string('[i]\n' + open('/etc/lava-server/instance.conf').read())
    i = c['i']
    db = {'name': i.get('LAVA_DB_NAME'), 'user': i.get('LAVA_DB_USER'), 'host': i.get('LAVA_DB_SERVER'), 'port': i.get('LAVA_DB_PORT')}
for f in ['/etc/lava-server/settings.conf', '/etc/lava-server/settings.yaml'] + sorted(glob.glob('/etc/lava-server/settings.d/*.yaml')):
    if not os.path.exists(f): continue
    d = ((yaml.safe_load(open(f)) or {}).get('DATABASES') or {}).get('default') or {}
    for k in ('NAME', 'USER', 'HOST', 'PORT'):
        if k in d: db[k.lower()] = d[k]
print(json.dumps({'name': db.get('name') or 'lavaserver', 'user': db.get('user') or 'lavaserver', 'host': db.get('host') or 'localhost', 'port': int(db.get('port') or 5432)}))
