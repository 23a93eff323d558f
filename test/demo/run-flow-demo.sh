#!/usr/bin/env bash
# `npm run demo`: the whole flow of the service on one machine of this kind, from a tag to
# a verified, restored backup:
#   a tenant tags volumes in Cinder → the controller learns it (notifications, inventory
#   poll) → the policy → a job in Postgres → the agent on the storage node → snapshot,
#   archive, manifest → backup_status, the API, a verify and a restore round trip.
# What runs: PostgreSQL and RabbitMQ (started if down, left as found); a STAND-IN CLOUD,
# the in-repo OpenStack emulator (test/emulator: Keystone, Cinder, Nova, Cinder-format
# notifications on the real RabbitMQ; not OpenStack); the real controller (dist/cli.js
# controller, configuration file in a temporary directory); a QEMU guest as the storage
# node (real LVM: cinder-volumes with a partitioned, a plain and a thin volume) running the
# real agent against the host's Postgres through QEMU's restricted forward.
#
# usage: run-flow-demo.sh [--keep]
#   --keep   leave the cloud, the controller, the storage node and the database running at
#            the end (the demo prints how to stop them); default: stop and remove everything
# Exit status: 0 when every check passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
KEEP=0
for arg in "$@"; do
  case $arg in
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-flow-demo: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

BACKEND=storage1@lvm                      # os-vol-host-attr:host = storage1@lvm#LVM
TAG=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
DB=clb_demo_$TAG
AGENT_ROLE=clb_demo_agent_$TAG
CTL_ROLE=clb_demo_controller_$TAG
EXCHANGE=clb-demo-$TAG                    # Cinder's control_exchange ('openstack' in a stock cloud)
QUEUE=$EXCHANGE.notifications
WORK=$(mktemp -d /tmp/clb-demo.XXXXXX)
chmod 700 "$WORK"
OUT=$WORK/node                            # the guest's /out: agent config, logs, backups
mkdir -p "$OUT"
export PAGER=cat PSQL_PAGER=cat
PSQL=(psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1)

# ------------------------------------------------------------------ output and timing
bold() { printf '\033[1m%s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
STARTED=$(now)
PHASES=() PHASE_TIMES=() phase_name="" phase_start=""
phase() { # phase TITLE: ends the current phase (prints its wall time), starts the next
  end_phase
  phase_name=$1 phase_start=$(now)
  printf '\n'
  bold "== [$(secs "$STARTED" "$phase_start") s] $1"
}
end_phase() {
  [ -n "$phase_name" ] || return 0
  local t
  t=$(secs "$phase_start" "$(now)")
  PHASES+=("$phase_name") PHASE_TIMES+=("$t")
  note "($t s)"
  phase_name=""
}
CHECKS=() FAILED_CHECKS=0
check() { # check NAME PASS|FAIL [DETAIL]
  CHECKS+=("$2 $1${3:+ ($3)}")
  [ "$2" = PASS ] || FAILED_CHECKS=$((FAILED_CHECKS + 1))
  note "check: $1 $2${3:+ ($3)}"
}
die() { echo "run-flow-demo: $*" >&2; exit 1; }

# ------------------------------------------------------------------ cleanup (trap)
pg_was_up=1 rabbit_was_up=1
cloud_pid="" controller_pid="" guest_pid="" db_made=0
# Stops everything the demo started, newest first (also written out for --keep).
stop_everything() {
  if [ -n "$guest_pid" ] && kill -0 "$guest_pid" 2>/dev/null; then
    # A running agent is stopped the way systemd would (SIGTERM, drain); a node still
    # filling its volumes is simply powered off.
    touch "$OUT/stop"
    [ -e "$OUT/node-ready" ] || kill "$guest_pid" 2>/dev/null
    for _ in $(seq 1 90); do kill -0 "$guest_pid" 2>/dev/null || break; sleep 1; done
    kill "$guest_pid" 2>/dev/null && note "storage node did not power off in 90 s: stopped"
    wait "$guest_pid" 2>/dev/null
  fi
  for pid in "$controller_pid" "$cloud_pid"; do
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$db_made" = 1 ]; then
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
      -c "DROP ROLE IF EXISTS $AGENT_ROLE" -c "DROP ROLE IF EXISTS $CTL_ROLE" >/dev/null
  fi
  # Services the demo started go back to how they were.
  if [ "$rabbit_was_up" = 0 ]; then rabbitmqctl -q stop >/dev/null 2>&1 && note "RabbitMQ stopped again"; fi
  if [ "$pg_was_up" = 0 ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main stop && note "PostgreSQL stopped again"
  fi
  rm -rf "$WORK"
  note "stopped: controller, stand-in cloud, storage node; dropped database $DB and its roles; removed $WORK"
}
cleanup() {
  local rc=$?
  set +e
  end_phase 2>/dev/null
  printf '\n'
  if [ "$KEEP" = 1 ]; then
    {
      echo '#!/usr/bin/env bash'
      echo '# Stops what `npm run demo -- --keep` left running (written by run-flow-demo.sh).'
      declare -p OUT WORK DB AGENT_ROLE CTL_ROLE guest_pid controller_pid cloud_pid db_made \
        pg_was_up rabbit_was_up PSQL
      declare -f note stop_everything
      echo stop_everything
    } >"$WORK/stop-demo.sh"
    bold "== --keep: left running"
    note "stand-in cloud pid $cloud_pid: $(jq -r '"Keystone \(.keystoneUrl), Cinder \(.cinderUrl)"' "$WORK/cloud.json" 2>/dev/null) (log $WORK/cloud.log)"
    note "controller pid $controller_pid: API ${API:-}, configuration $WORK/controller.conf (log $WORK/controller.log)"
    note "storage node: run-guest pid $guest_pid (console $WORK/guest.log, agent log $OUT/agent.log)"
    note "database: psql -h 127.0.0.1 -U postgres $DB"
    note "to stop everything and remove the database and $WORK: bash $WORK/stop-demo.sh"
    exit "$rc"
  fi
  bold "== cleaning up"
  stop_everything
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ================================================================== 1. the machine
phase "1/9 preparing the machine: system packages, npm dependencies, build"
bash scripts/prepare-machine.sh --for demo 2>&1 | sed 's/^/   /'   # packages; npm ci if no node_modules
note "npm run build"
npm run build --silent

# ================================================================== 2. services
phase "2/9 services: PostgreSQL and RabbitMQ (started if down; left as found at the end)"
(exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null || pg_was_up=0
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || rabbit_was_up=0
bash scripts/ensure-services.sh postgresql rabbitmq | sed 's/^/   /'
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
db_made=1
DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$DB CLB_LOG_LEVEL=warn node dist/cli.js migrate | sed 's/^/   /'
# One login role per process, as on a real cloud (README, "Database roles"): the agent's
# sees only its backend's rows (row-level security), the controller's every table.
"${PSQL[@]}" -d "$DB" <<SQL
CREATE ROLE $CTL_ROLE LOGIN IN ROLE clb_controller;
CREATE ROLE $AGENT_ROLE LOGIN IN ROLE clb_agent;
INSERT INTO agent_hosts (role_name, backend_host) VALUES ('$AGENT_ROLE', '$BACKEND');
SQL
note "database $DB migrated; login roles $CTL_ROLE (clb_controller) and $AGENT_ROLE (clb_agent, serves $BACKEND)"

# ================================================================== 3. the stand-in cloud
phase "3/9 STAND-IN CLOUD: the in-repo OpenStack emulator (test/emulator), not OpenStack"
node --import tsx test/demo/stand-in-cloud.ts --state "$WORK" --exchange "$EXCHANGE" \
  --backend "$BACKEND#LVM" --delete-queue "$QUEUE" --delete-queue "$QUEUE.dead-letter" \
  >"$WORK/cloud.log" 2>&1 &
cloud_pid=$!
for _ in $(seq 1 60); do [ -s "$WORK/cloud.json" ] && break; kill -0 "$cloud_pid" || die "the stand-in cloud did not start: $(tail -5 "$WORK/cloud.log")"; sleep 0.5; done
[ -s "$WORK/cloud.json" ] || die "the stand-in cloud did not start in 30 s"
KEYSTONE=$(jq -r .keystoneUrl "$WORK/cloud.json")
CINDER=$(jq -r .cinderUrl "$WORK/cloud.json")
note "Keystone $KEYSTONE, Cinder $CINDER, Nova $(jq -r .novaUrl "$WORK/cloud.json")"
note "notifications: Cinder's format (oslo messagingv2) to the real RabbitMQ, exchange $EXCHANGE"

# token USER PASSWORD PROJECT: a project-scoped Keystone token (password on stdin, not argv)
token() {
  jq -n --arg u "$1" --arg p "$2" --arg pr "$3" \
    '{auth: {identity: {methods: ["password"], password: {user: {name: $u, domain: {name: "Default"}, password: $p}}},
      scope: {project: {name: $pr, domain: {name: "Default"}}}}}' |
    curl -sS -f -D - -o /dev/null -H 'Content-Type: application/json' --data-binary @- "$KEYSTONE/auth/tokens" |
    awk 'tolower($1) == "x-subject-token:" { print $2 }' | tr -d '\r'
}
TENANT_TOKEN=$(token demo "$(jq -r .credentials.demo.password "$WORK/cloud.json")" demo)
TENANT_PROJECT=$(jq -r .credentials.demo.projectId "$WORK/cloud.json")
ADMIN_TOKEN=$(token "$(jq -r .credentials.username "$WORK/cloud.json")" "$(jq -r .credentials.password "$WORK/cloud.json")" admin)
[ -n "$TENANT_TOKEN" ] && [ -n "$ADMIN_TOKEN" ] || die "no token from the stand-in Keystone"
note "tokens: tenant 'demo' (member of project demo), operator 'backupsvc' (admin)"
cinder() { # cinder METHOD PATH [JSON]: the tenant's call to Cinder v3, as python-cinderclient makes it
  curl -sS -f -X "$1" -H "X-Auth-Token: $TENANT_TOKEN" -H 'Content-Type: application/json' \
    -H 'OpenStack-API-Version: volume 3.60' ${3:+--data-binary "$3"} "$CINDER/$TENANT_PROJECT$2"
}

# ================================================================== 4. the controller
phase "4/9 the controller (node dist/cli.js controller) with its configuration file"
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
API_PORT=$(free_port)
METRICS_PORT=$(free_port)
API=http://127.0.0.1:$API_PORT
(
  umask 077
  cat >"$WORK/controller.conf" <<CONF
# Written by run-flow-demo.sh: the controller against the stand-in cloud.
[DEFAULT]
log_level = info
time_zone = UTC
transport_url = rabbit://guest:guest@127.0.0.1:5672/

[database]
connection = postgresql://$CTL_ROLE@127.0.0.1:5432/$DB

[notifications]
exchanges = $EXCHANGE
queue = $QUEUE

[controller]
# Short for the demo (defaults: 300 and 60 s).
poll_interval = 5
schedule_interval = 5

[service_credentials]
auth_url = $KEYSTONE
username = $(jq -r .credentials.username "$WORK/cloud.json")
password = $(jq -r .credentials.password "$WORK/cloud.json")
user_domain_name = Default
project_name = admin
project_domain_name = Default
region_name = RegionOne
interface = internal

[api]
listen = 127.0.0.1:$API_PORT

[metrics]
listen = 127.0.0.1:$METRICS_PORT
CONF
)
node dist/cli.js --config "$WORK/controller.conf" config check --for controller | sed 's/^/   /'
node dist/cli.js --config "$WORK/controller.conf" controller >"$WORK/controller.log" 2>&1 &
controller_pid=$!
for _ in $(seq 1 120); do
  curl -sf "$API/healthz" >/dev/null 2>&1 && break
  kill -0 "$controller_pid" 2>/dev/null || die "the controller exited: $(tail -5 "$WORK/controller.log")"
  sleep 0.5
done
curl -sf "$API/healthz" >/dev/null || die "the controller's API did not answer in 60 s"
note "controller pid $controller_pid: consuming $QUEUE (bound to $EXCHANGE), polling Cinder every 5 s, API $API, metrics 127.0.0.1:$METRICS_PORT"

# ================================================================== 5. volumes in Cinder
phase "5/9 a tenant creates four volumes in (stand-in) Cinder"
declare -A VOL NAME
for spec in gpt:web-01-root plain:db-01-scratch thin:analytics-thin target:web-01-restore; do
  key=${spec%%:*} name=${spec#*:} metadata='{}'
  if [ "$key" = plain ]; then
    # Tagged at creation: the policy travels in the volume.create.end notification.
    note "openstack volume create --size 1 --property backup=daily --property backup:retention=last=3 $name"
    metadata='{"backup": "daily", "backup:retention": "last=3"}'
  else
    note "openstack volume create --size 1 $name"
  fi
  VOL[$key]=$(cinder POST /volumes "{\"volume\": {\"size\": 1, \"name\": \"$name\", \"metadata\": $metadata}}" | jq -r .volume.id)
  NAME[$key]=$name
done
for key in gpt plain thin target; do
  for _ in $(seq 1 40); do
    [ "$(cinder GET "/volumes/${VOL[$key]}" | jq -r .volume.status)" = available ] && break
    sleep 0.25
  done
  note "${VOL[$key]}  ${NAME[$key]}  $(cinder GET "/volumes/${VOL[$key]}" | jq -r .volume.status)"
done
# The controller heard of them from Cinder's volume.create.* notifications.
for _ in $(seq 1 40); do
  n=$("${PSQL[@]}" -d "$DB" -tAc "SELECT count(*) FROM volumes")
  [ "$n" -ge 4 ] && break
  sleep 0.5
done
"${PSQL[@]}" -d "$DB" -c "SELECT event_type, outcome, count(*) FROM processed_notifications GROUP BY 1, 2 ORDER BY 1" | sed 's/^/   /'
for _ in $(seq 1 40); do
  [ "$("${PSQL[@]}" -d "$DB" -tAc "SELECT policy IS NOT NULL FROM volumes WHERE id = '${VOL[plain]}'")" = t ] && break
  sleep 0.5
done
"${PSQL[@]}" -d "$DB" -c "SELECT name, status, host, lv_name, clb_policy_text(policy) AS policy FROM volumes ORDER BY name" | sed 's/^/   /'
note "the controller learned the volumes, and db-01-scratch's tags, from Cinder's volume.create.* notifications"

# ================================================================== 6. the storage node
phase "6/9 the storage node: QEMU guest with real LVM, cinder-volumes, the agent"
(
  umask 077
  cat >"$OUT/agent.conf" <<CONF
# The agent on storage node storage1 (written by run-flow-demo.sh).
[DEFAULT]
log_level = info
time_zone = UTC
[database]
# The host's Postgres through QEMU's restricted forward; this node's own login role.
connection = postgresql://$AGENT_ROLE@10.0.2.100:5432/$DB
[agent]
hosts = $BACKEND
backup_dest = /out/backups
poll_interval = 2
stop_timeout = 60
CONF
)
waited=0
while pgrep -f qemu-system >/dev/null; do
  [ "$waited" = 0 ] && note "another QEMU guest runs on this machine (one at a time): waiting for it"
  waited=$((waited + 5))
  [ "$waited" -lt 1200 ] || die "another QEMU guest still runs after 20 min"
  sleep 5
done
guest_limit=1800
[ "$KEEP" = 1 ] && guest_limit=14400
test/storage-node/run-guest.sh -d 6144 -m 2048 -t "$guest_limit" -o "$OUT" -f 5432:5432 \
  -e "GPT_ID=${VOL[gpt]}" -e "PLAIN_ID=${VOL[plain]}" -e "THIN_ID=${VOL[thin]}" \
  -e "TARGET_ID=${VOL[target]}" -e "STOP_AFTER=$((guest_limit - 60))" \
  -- bash test/demo/flow-guest.sh >"$WORK/guest.log" 2>&1 &
guest_pid=$!
note "booting (pid $guest_pid); the volumes are made and filled inside it (console: $WORK/guest.log)"
shown=0
for _ in $(seq 1 900); do
  # The node's own progress lines, as they come.
  n=$(grep -c '^node:' "$WORK/guest.log" || true)
  if [ "$n" -gt "$shown" ]; then
    grep '^node:' "$WORK/guest.log" | tail -n +$((shown + 1)) | head -n $((n - shown)) | sed 's/^/   /'
    shown=$n
  fi
  [ -e "$OUT/node-ready" ] && break
  kill -0 "$guest_pid" 2>/dev/null || { tail -30 "$WORK/guest.log"; die "the storage node stopped before it was ready"; }
  sleep 1
done
[ -e "$OUT/node-ready" ] || die "the storage node was not ready after 15 min"
note "storage node ready: 4 LVs in cinder-volumes named as Cinder names them, the agent running as $AGENT_ROLE"

# ================================================================== 7. tags → jobs
phase "7/9 the tenant tags the volumes, as 'openstack volume set --property' does"
tagged_at=$(now)
note "openstack volume set --property backup=daily web-01-root"
cinder POST "/volumes/${VOL[gpt]}/metadata" '{"metadata": {"backup": "daily"}}' >/dev/null
note "openstack volume set --property 'backup=0 3 * * *' analytics-thin   (first due tonight at 03:00)"
cinder POST "/volumes/${VOL[thin]}/metadata" '{"metadata": {"backup": "0 3 * * *"}}' >/dev/null
note "(POST /v3/{project}/volumes/{id}/metadata: real Cinder publishes no notification for it,"
note " see docs/openstack-wire.md B.2, so the controller's inventory poll finds the tags)"
for _ in $(seq 1 120); do
  n=$("${PSQL[@]}" -d "$DB" -tAc "SELECT count(*) FROM volumes WHERE policy IS NOT NULL")
  [ "$n" = 3 ] && break
  sleep 0.5
done
note "policies seen $(secs "$tagged_at" "$(now)") s after the tags; the controller's latest poll, in the stand-in cloud's log:"
grep -E 'cinder GET /v3(/[^/ ]+)?/volumes/detail' "$WORK/cloud.log" | tail -1 | sed 's/^/   /'
note "(no notification came for these changes: $("${PSQL[@]}" -d "$DB" -tAc "SELECT count(*) FROM processed_notifications WHERE event_type LIKE 'volume.update%'") volume.update.* processed)"
"${PSQL[@]}" -d "$DB" -c "SELECT name, clb_policy_text(policy) AS policy, next_due_at FROM volumes WHERE policy IS NOT NULL ORDER BY name" | sed 's/^/   /'
for _ in $(seq 1 60); do
  n=$("${PSQL[@]}" -d "$DB" -tAc "SELECT count(*) FROM jobs WHERE kind = 'backup'")
  [ "$n" -ge 2 ] && break
  sleep 0.5
done
note "the scheduler queued the volumes whose first backup is due now (backup=daily: at once; db-01-scratch's since its creation):"
"${PSQL[@]}" -d "$DB" -c "SELECT j.id, j.kind, v.name, j.reason, j.state FROM jobs j JOIN volumes v ON v.id = j.volume_id ORDER BY j.id" | sed 's/^/   /'
note "analytics-thin is due at 03:00; the tenant asks for a backup now through the service's API:"
note "curl -X POST -H 'X-Auth-Token: <tenant token>' $API/v1/volumes/${VOL[thin]}/backups"
curl -sS -f -X POST -H "X-Auth-Token: $TENANT_TOKEN" "$API/v1/volumes/${VOL[thin]}/backups" |
  jq -c '{created, job: {id: .job.id, kind: .job.kind, state: .job.state}}' | sed 's/^/   /'

# ================================================================== 8. backups
phase "8/9 the agent in the storage node claims and runs the jobs (job states as they change)"
jobs_seen="" progress_seen=0
show_progress() { # the agent's newest progress line per job since the last look
  local n job kind what done total
  n=$(wc -l <"$OUT/agent.log" 2>/dev/null || echo 0)
  [ "$n" -gt "$progress_seen" ] || return 0
  tail -n +$((progress_seen + 1)) "$OUT/agent.log" | head -n $((n - progress_seen)) |
    jq -R -r 'fromjson? | select(.msg == "progress" and .bytesTotal != null)
              | [.jobId, .kind, .phase, .bytesDone, .bytesTotal] | @tsv' 2>/dev/null |
    awk -F'\t' '{ last[$1] = $0 } END { for (j in last) print last[j] }' |
    while IFS=$'\t' read -r job kind what done total; do
      note "[$(secs "$STARTED" "$(now)") s]   job $job $kind: $what, $(mib "$done") of $(mib "$total")"
    done
  progress_seen=$n
}
show_jobs_until() { # show_jobs_until SQL-CONDITION SECONDS: prints job state changes
  local deadline=$(($(date +%s) + $2)) cur
  while :; do
    cur=$("${PSQL[@]}" -d "$DB" -tA -F ' ' -c \
      "SELECT j.id, j.kind, v.name, j.state, 'attempt ' || j.attempts, coalesce(j.last_error_code, '')
         FROM jobs j JOIN volumes v ON v.id = j.volume_id ORDER BY j.id")
    if [ "$cur" != "$jobs_seen" ]; then
      diff <(printf '%s\n' "$jobs_seen") <(printf '%s\n' "$cur") | sed -n 's/^> //p' |
        while read -r line; do note "[$(secs "$STARTED" "$(now)") s] job $line"; done
      jobs_seen=$cur
    fi
    show_progress
    [ "$("${PSQL[@]}" -d "$DB" -tAc "SELECT NOT EXISTS (SELECT 1 FROM jobs WHERE $1)")" = t ] && return 0
    kill -0 "$guest_pid" 2>/dev/null || { tail -30 "$WORK/guest.log"; die "the storage node stopped"; }
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 2
  done
}
show_jobs_until "state IN ('queued', 'running')" 1200 || die "jobs still open after 20 min"
for key in gpt plain thin; do
  s=$("${PSQL[@]}" -d "$DB" -tAc "SELECT state FROM jobs WHERE kind = 'backup' AND volume_id = '${VOL[$key]}' ORDER BY id DESC LIMIT 1")
  [ "$s" = succeeded ] && check "backup of ${NAME[$key]}" PASS || check "backup of ${NAME[$key]}" FAIL "job $s"
done

# ================================================================== 9. the result
phase "9/9 the result: psql, the report, the API, a verify and a restore round trip"
bold "   backup_status through psql (as an operator would: SELECT * FROM backup_status)"
"${PSQL[@]}" -d "$DB" -c "SELECT volume_name, policy, last_status, last_success_at::time(0) AS last_success, next_due_at, backups_kept, pg_size_pretty(bytes_kept) AS kept, last_consistency FROM backup_status" | sed 's/^/   /'
bold "   the morning report, as the on-call mail would carry it (node dist/cli.js report)"
note "node dist/cli.js --config controller.conf report --since 24h"
node dist/cli.js --config "$WORK/controller.conf" report --since 24h >"$WORK/report.txt" 2>&1 || true
sed 's/^/   /' "$WORK/report.txt" | head -n 40
for key in gpt plain thin; do
  grep -qF -- "${NAME[$key]}" "$WORK/report.txt" && check "report lists ${NAME[$key]}" PASS ||
    check "report lists ${NAME[$key]}" FAIL "$(tail -n 1 "$WORK/report.txt")"
done
bold "   GET /v1/volumes through curl with the tenant's Keystone token"
note "curl -H 'X-Auth-Token: <token from the stand-in Keystone>' $API/v1/volumes"
curl -sS -f -H "X-Auth-Token: $TENANT_TOKEN" "$API/v1/volumes" | tee "$WORK/api-volumes.json" |
  jq -r '.volumes[] | "   \(.name)  policy \(.policy)  last \(.last_status) at \(.last_success_at)  next due \(.next_due_at)  kept \(.backups_kept) (\(.bytes_kept) bytes)"'
n=$(jq '[.volumes[] | select(.last_status == "succeeded")] | length' "$WORK/api-volumes.json")
[ "$n" = 3 ] && check "API lists 3 backed-up volumes" PASS || check "API lists 3 backed-up volumes" FAIL "$n"

bold "   verify every backup (POST /v1/backups/{id}/verify, the tenant's token)"
declare -A BACKUP
for key in gpt plain thin; do
  BACKUP[$key]=$(curl -sS -f -H "X-Auth-Token: $TENANT_TOKEN" "$API/v1/volumes/${VOL[$key]}/backups" |
    jq -r '[.backups[] | select(.status == "succeeded")][0].id')
  curl -sS -f -X POST -H "X-Auth-Token: $TENANT_TOKEN" "$API/v1/backups/${BACKUP[$key]}/verify" |
    jq -r --arg n "${NAME[$key]}" --arg b "${BACKUP[$key]}" '"   \($n): backup \($b), verify job \(.job.id) \(.job.state)"'
done
bold "   restore web-01-root's backup onto the new volume web-01-restore (admin: POST /v1/backups/{id}/restore)"
curl -sS -f -X POST -H "X-Auth-Token: $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  --data-binary "{\"target_volume_id\": \"${VOL[target]}\"}" "$API/v1/backups/${BACKUP[gpt]}/restore" |
  jq -r '"   restore job \(.job.id) \(.job.state)"'
show_jobs_until "kind IN ('verify', 'restore') AND state IN ('queued', 'running')" 600 || die "verify/restore still open after 10 min"
for key in gpt plain thin; do
  ok=$("${PSQL[@]}" -d "$DB" -tAc "SELECT verify_ok FROM backups WHERE id = ${BACKUP[$key]}")
  [ "$ok" = t ] && check "verify of ${NAME[$key]}'s backup" PASS || check "verify of ${NAME[$key]}'s backup" FAIL "verify_ok=$ok"
done
s=$("${PSQL[@]}" -d "$DB" -tAc "SELECT state FROM jobs WHERE kind = 'restore' ORDER BY id DESC LIMIT 1")
[ "$s" = succeeded ] && check "restore job" PASS || check "restore job" FAIL "$s"
note "comparing, inside the storage node, the restored volume with the original (sfdisk, blkid, find, sha256sum, getfattr, getfacl; no code shared with the engine)"
echo "${VOL[gpt]} ${VOL[target]}" >"$OUT/compare-request"
for _ in $(seq 1 600); do [ -s "$OUT/compare-result" ] && break; kill -0 "$guest_pid" 2>/dev/null || break; sleep 1; done
if [ -s "$OUT/compare-result" ]; then
  grep -v '^RESULT' "$OUT/compare-result" | sed 's/^/   /'
  while read -r _ name verdict; do check "restored copy: $name" "$verdict"; done < <(grep '^RESULT' "$OUT/compare-result")
else
  check "restored copy compared" FAIL "no answer from the storage node"
fi
end_phase

# ------------------------------------------------------------------ stop the node, summary
touch "$OUT/stop"
if [ "$KEEP" = 0 ]; then
  for _ in $(seq 1 120); do [ -s "$OUT/node-stopped" ] && break; kill -0 "$guest_pid" 2>/dev/null || break; sleep 1; done
  if [ -s "$OUT/node-stopped" ]; then
    while read -r _ name verdict rest; do check "storage node: $name" "$verdict" "$rest"; done <"$OUT/node-stopped"
  else
    check "storage node stopped cleanly" FAIL "no report"
  fi
  rm -f "$OUT/stop"
fi
summary=$("${PSQL[@]}" -d "$DB" -tA -F '|' -c \
  "SELECT count(*), coalesce(sum(bytes_read), 0), coalesce(sum(bytes_written), 0),
          coalesce(round(sum(extract(epoch FROM finished_at - started_at))::numeric, 1), 0)
     FROM backups WHERE status = 'succeeded'")
IFS='|' read -r nb bread bwritten bsecs <<<"$summary"
printf '\n'
bold "== summary"
note "volumes      4 in the stand-in Cinder (GPT ext4+xfs+raw, plain ext4, thin xfs, a restore target) on $BACKEND"
note "backups      $nb succeeded: $(mib "$bread") read from snapshots, $(mib "$bwritten") stored (zstd), $bsecs s of backup time in the guest"
while read -r line; do note "  $line"; done < <("${PSQL[@]}" -d "$DB" -tA -F ' ' -c \
  "SELECT '  ' || volume_name, pg_size_pretty(bytes_read) || ' read,', pg_size_pretty(bytes_written) || ' stored,', round(extract(epoch FROM finished_at - started_at)::numeric, 1) || ' s'
     FROM backup_history WHERE status = 'succeeded' ORDER BY volume_name" 2>/dev/null)
note "phases (wall):"
for i in "${!PHASES[@]}"; do note "  ${PHASE_TIMES[$i]} s  ${PHASES[$i]}"; done
note "total        $(secs "$STARTED" "$(now)") s"
passed=$((${#CHECKS[@]} - FAILED_CHECKS))
note "checks       $passed of ${#CHECKS[@]} passed"
for c in "${CHECKS[@]}"; do note "  $c"; done
[ "$FAILED_CHECKS" = 0 ] || exit 1
