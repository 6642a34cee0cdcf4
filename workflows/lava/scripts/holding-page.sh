#!/bin/sh
# The holding page: apache2 serves a static "maintenance" page instead of the LAVA site while the
# restore runs (LAVA's doc: keep users out). Needs apache2 on the master, as a Debian LAVA master has.
# Argument: up, down or check.
set -e
case "$1" in
up)
  mkdir -p /var/www/runbooks-holding
  echo '<html><body><h1>LAVA is being restored</h1><p>Back soon.</p></body></html>' > /var/www/runbooks-holding/index.html
  printf '%s\n' '<VirtualHost *:80>' '  DocumentRoot /var/www/runbooks-holding' '  ErrorDocument 503 /index.html' '  RewriteEngine on' '  RewriteCond %{REQUEST_URI} !=/index.html' '  RewriteRule ^ - [R=503,L]' '</VirtualHost>' > /etc/apache2/sites-available/runbooks-holding.conf
  a2enmod -q rewrite
  a2dissite -q lava-server
  a2ensite -q runbooks-holding
  apache2ctl configtest
  service apache2 reload
  echo "holding page up"
  ;;
down)
  a2dissite -q runbooks-holding
  a2ensite -q lava-server
  apache2ctl configtest
  service apache2 reload
  echo "LAVA site back"
  ;;
check)
  if [ -f /etc/apache2/sites-available/lava-server.conf ] && command -v a2ensite > /dev/null; then
    echo "apache2 present"
  else
    echo "no apache2 with the lava-server site on this master: no holding page possible" >&2
    exit 6
  fi
  ;;
esac
