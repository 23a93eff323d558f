#!/usr/bin/env bash
# Makes sure the local services the integration tests use are up and answering: PostgreSQL
# (127.0.0.1:5432, user root), RabbitMQ (127.0.0.1:5672) and MariaDB (127.0.0.1:3306, root).
# On this machine kind they are started before a session; this starts a stopped one, then
# checks each with a real request (a query, the broker's own status), and exits 1 naming
# every service that is not answering, with the tail of its log.
#
# usage: ensure-services.sh [postgresql] [rabbitmq] [mariadb]   (none named: all three)
set -uo pipefail
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(postgresql rabbitmq mariadb)
for w in "${wanted[@]}"; do
  case $w in
    postgresql | rabbitmq | mariadb) ;;
    *) echo "ensure-services: unknown service '$w' (postgresql, rabbitmq, mariadb)" >&2; exit 2 ;;
  esac
done
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # wait_for SECONDS CMD...: retries CMD once a second
  local n=$1
  shift
  for _ in $(seq 1 "$n"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
failed=()
fail() { # fail NAME LOG-GLOB
  failed+=("$1")
  echo "ensure-services: $1 is not answering" >&2
  # shellcheck disable=SC2086
  for f in $2; do [ -f "$f" ] && { echo "--- tail of $f" >&2; tail -n 20 "$f" >&2; }; done
}

pg_answers() { psql -h 127.0.0.1 -U root -d postgres -Atqc 'SELECT 1' | grep -qx 1; }
if want postgresql && ! up 5432; then
  cluster=$(ls /etc/postgresql 2>/dev/null | head -1)
  if [ -n "$cluster" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$cluster" main start \
      || echo "ensure-services: pg_ctlcluster $cluster main start failed" >&2
  else
    echo "ensure-services: no PostgreSQL cluster under /etc/postgresql" >&2
  fi
fi
want postgresql && { wait_for 60 pg_answers || fail PostgreSQL '/var/log/postgresql/*.log'; }

# The Debian script switches to the rabbitmq user itself.
if want rabbitmq && ! up 5672; then rabbitmq-server -detached || echo "ensure-services: rabbitmq-server failed" >&2; fi
rabbit_answers() { up 5672 && rabbitmqctl -q status; }
want rabbitmq && { wait_for 90 rabbit_answers || fail RabbitMQ '/var/log/rabbitmq/*.log'; }

if want mariadb && ! up 3306; then
  install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --chuid mysql --exec /usr/sbin/mariadbd \
    || echo "ensure-services: starting mariadbd failed" >&2
fi
maria_answers() { mariadb -h 127.0.0.1 -u root -N -e 'SELECT 1' | grep -qx 1; }
want mariadb && { wait_for 60 maria_answers || fail MariaDB '/var/log/mysql/error.log'; }

if [ ${#failed[@]} -gt 0 ]; then
  echo "ensure-services: FAILED: ${failed[*]} not up; the tests need them" >&2
  exit 1
fi
echo "ensure-services: ${wanted[*]} answering"
