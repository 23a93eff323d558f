#!/usr/bin/env bash
# Starts the local services the integration tests use, if one has stopped. On this machine
# kind they are started before a session; this only repairs a stopped one.
set -uo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 1; done; return 1; }
if ! up 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  wait_up 5432 || echo "ensure-services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2
fi
if ! up 5672; then
  rabbitmq-server -detached || true
  wait_up 5672 || echo "ensure-services: RabbitMQ is not reachable on 127.0.0.1:5672" >&2
fi
if ! up 3306; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_up 3306 || echo "ensure-services: MariaDB is not reachable on 127.0.0.1:3306" >&2
fi
echo "ensure-services: done"
