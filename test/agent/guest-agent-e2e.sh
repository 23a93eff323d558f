#!/usr/bin/env bash
# End to end INSIDE the storage-node guest (disk /dev/vda >= 2 GiB): a Cinder-style volume
# on real LVM, the agent (`node dist/cli.js agent`) reaching the host's Postgres only
# through QEMU's restricted forward (10.0.2.100:5432), and the jobs the HOST test puts on
# the queue: a backup, then a verify and a restore onto a second, larger LV; two backups of
# a small "canary" volume whose policy's excludes are hostile (each would create a file
# named clbc-$CANARY_TAG-* if a shell or tar ever took it for more than a pattern).
# Then the catalog is lost: `catalog rebuild` fills an empty database from /out/backups
# (twice: the second run must change nothing), and an agent working from the rebuilt
# catalog restores the canary volume's newest backup onto a third LV, compared with the
# original.
# Env: DATABASE_URL (agent, first catalog), VOL_ID, TARGET_ID, CANARY_ID, TARGET2_ID,
# BACKEND (host@backend), WAIT_SEC, REBUILD_DATABASE_URL (an operator of the empty catalog),
# REBUILT_AGENT_URL (the agent's login there), CANARY_TAG, CANARIES (the canary paths).
# Prints "RESULT <check> PASS|FAIL [detail]" lines; exits non-zero when a check failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../storage-node/scenarios/lib.sh
. "$PROJECT/test/storage-node/scenarios/lib.sh"
WORK=$(mktemp -d /tmp/e2e.XXXXXX)
# The console is a terminal: without this psql waits in its pager for a key nobody presses.
export PAGER=cat PSQL_PAGER=cat
FAILED=0
result() {
  echo "RESULT $1 $2${3:+ $3}"
  [ "$2" = PASS ] || FAILED=1
}

src=volume-$VOL_ID
dst=volume-$TARGET_ID
clb_make_vg /dev/vda
clb_thick_lv "$src" 540 >/dev/null
clb_gpt_layout "/dev/$VG/$src"
mapfile -t p < <(clb_map "/dev/$VG/$src")
mkfs.ext4 -q -L data "${p[0]}"
mkfs.xfs -q -L logs "${p[1]}"
dd if=/dev/urandom of="${p[2]}" bs=1M count=8 conv=nocreat status=none
for i in 1 2; do
  mkdir -p "$WORK/src$i"
  mount "${p[$((i - 1))]}" "$WORK/src$i"
  clb_populate "$WORK/src$i"
  clb_walk "$WORK/src$i" >"$WORK/walk$i.before"
  umount "$WORK/src$i"
done
clb_unmap "/dev/$VG/$src"
clb_thick_lv "$dst" 600 >/dev/null
# The canary volume: one ext4 filesystem on the whole LV (no partition table).
can=volume-$CANARY_ID
dst2=volume-$TARGET2_ID
clb_thick_lv "$can" 160 >/dev/null
mkfs.ext4 -q -L canary "/dev/$VG/$can"
mkdir -p "$WORK/can"
mount "/dev/$VG/$can" "$WORK/can"
clb_populate "$WORK/can"
clb_walk "$WORK/can" >"$WORK/walkc.before"
umount "$WORK/can"
clb_thick_lv "$dst2" 200 >/dev/null
clb_log "volumes ready: $src (source), $dst (restore target), $can (canary), $dst2 (target after the rebuild)"

# The agent, as systemd would run it; the host enqueued the backup before we booted.
# $1: the database URL (default: the first catalog's).
start_agent() {
  DATABASE_URL=${1:-$DATABASE_URL} CLB_LOG_LEVEL=debug node "$PROJECT/dist/cli.js" agent \
    --host "$BACKEND" --dest /out/backups --poll-seconds 1 --lease-seconds 10 \
    --stop-timeout 60 >>"$WORK/agent.out" 2>>/out/agent.log &
  agent=$!
  clb_log "agent started (pid $agent)"
}
# stop_agent CHECK: SIGTERM, and the agent must exit 0 within two minutes.
stop_agent() {
  kill -TERM "$agent" 2>/dev/null
  # A stuck agent must not hang the scenario: give it two minutes, then say where it is.
  for _ in $(seq 1 120); do kill -0 "$agent" 2>/dev/null || break; sleep 1; done
  if kill -0 "$agent" 2>/dev/null; then
    echo "agent $agent still running 120 s after SIGTERM:"
    grep -E '^(State|Threads)' "/proc/$agent/status"
    for t in /proc/"$agent"/task/*; do echo "  task ${t##*/}: $(cat "$t/comm") $(cat "$t/wchan" 2>/dev/null) $(cut -d' ' -f3 "$t/stat")"; done
    ls -l "/proc/$agent/fd" 2>/dev/null | awk '{print "  fd", $(NF-2), $NF}'
    ps -o pid,ppid,stat,args -e | grep -vE ' \[|ps -o' | tail -20
    tail -20 /out/agent.log | cut -c1-300
    kill -KILL "$agent"
  fi
  wait "$agent"
  local code=$?
  [ "$code" = 0 ] && result "$1" PASS || result "$1" FAIL "exit $code; $(tail -5 /out/agent.log)"
}
# While the agents run: the first tar whose arguments carry a canary pattern, as the kernel
# saw its argv (one argument a line), to show the hostile values reached tar as arguments.
(
  while [ ! -s /out/tar-argv.txt ]; do
    for f in $(grep -lsa "clbc-$CANARY_TAG" /proc/[0-9]*/cmdline); do
      a0=$(tr '\0' '\n' <"$f" 2>/dev/null | head -1)
      [ "${a0##*/}" = tar ] && tr '\0' '\n' <"$f" >/out/tar-argv.txt 2>/dev/null
    done
    sleep 0.2
  done
) &
sampler=$!
start_agent

# The node crashes in the middle of the first attempt: SIGKILL once the snapshot is
# mounted. Its snapshot, mappings, mounts and run directory stay behind.
for _ in $(seq 1 600); do
  # The backup mounts in its private namespace: look in every process's view.
  [ -n "$(clb_run_mounts)" ] && break
  sleep 0.2
done
kill -KILL "$agent"
wait "$agent" 2>/dev/null
left=$(clb_leftovers | tr '\n' ' ')
case "$left" in
  *lv:*) result crash-leaves-snapshot PASS "$left" ;;
  *) result crash-leaves-snapshot FAIL "left: '$left'" ;;
esac
# The node comes back: the agent reaps first, then takes the job again once the dead
# agent's lease has lapsed.
start_agent

# wait_jobs URL N: until N jobs other than prunes have ended and none is queued or running
# (the host enqueues the verify, the restore and the canary backups as earlier ones end).
wait_jobs() {
  local deadline=$(($(date +%s) + ${WAIT_SEC:-600})) ended=""
  while [ "$(date +%s)" -lt "$deadline" ]; do
    ended=$(psql "$1" -tAc \
      "SELECT count(*) FILTER (WHERE kind <> 'prune' AND state IN ('succeeded', 'failed', 'cancelled')) || '/' || count(*) FILTER (WHERE state IN ('queued', 'running')) FROM jobs" 2>/dev/null || echo "?")
    [ "$ended" = "$2/0" ] && return 0
    kill -0 "$agent" 2>/dev/null || break
    sleep 2
  done
  echo "ended/open: $ended"
  return 1
}
t_jobs=$(date +%s.%N)
wait_jobs "$DATABASE_URL" 5 && result jobs-ended PASS "$(clb_elapsed "$t_jobs") s" || result jobs-ended FAIL
psql "$DATABASE_URL" -P pager=off -tAc "SELECT id, kind, state, attempts, coalesce(last_error_code, '-') FROM jobs ORDER BY id"
stop_agent agent-exit
head -1 "$WORK/agent.out"
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null

# The restored copy against the original, with the independent walk.
mapfile -t q < <(clb_map "/dev/$VG/$dst")
for i in 1 2; do
  if [ -z "${q[$((i - 1))]:-}" ]; then
    result "walk$i" FAIL "partition $i of $dst not found"
    continue
  fi
  clb_mount_ro "${q[$((i - 1))]}" "$WORK/dst$i"
  clb_walk "$WORK/dst$i" >"$WORK/walk$i.after"
  umount "$WORK/dst$i"
  if clb_compare "walk$i" "$WORK/walk$i.before" "$WORK/walk$i.after" >"$WORK/cmp$i" 2>&1; then
    result "walk$i" PASS
  else
    result "walk$i" FAIL
    cat "$WORK/cmp$i"
  fi
done
clb_unmap "/dev/$VG/$dst"

# The catalog is lost: rebuild it from the destination into the empty database, as an
# operator would, twice. Each run's report (--json, one line) goes to the host.
rows_digest() {
  psql "$REBUILD_DATABASE_URL" -tAc \
    "SELECT (SELECT md5(coalesce(string_agg(b::text, '|' ORDER BY b.id), '')) FROM backups b) || ' ' || (SELECT md5(coalesce(string_agg(v::text, '|' ORDER BY v.id), '')) FROM volumes v)"
}
rebuild() {
  local t0 code
  t0=$(date +%s.%N)
  DATABASE_URL=$REBUILD_DATABASE_URL node "$PROJECT/dist/cli.js" catalog rebuild \
    --dest /out/backups --host "$BACKEND" --json >"$WORK/rebuild$1.json" 2>"$WORK/rebuild$1.err"
  code=$?
  echo "REBUILD$1 $(tr -d '\n' <"$WORK/rebuild$1.json")"
  if [ "$code" = 0 ]; then
    result "rebuild-run$1" PASS "$(clb_elapsed "$t0") s wall"
  else
    result "rebuild-run$1" FAIL "exit $code; $(tail -5 "$WORK/rebuild$1.err")"
  fi
}
before=$(rows_digest)
rebuild 1
first=$(rows_digest)
rebuild 2
second=$(rows_digest)
if [ "$first" = "$second" ] && [ "$before" != "$first" ]; then
  result rebuild-idempotent PASS
else
  result rebuild-idempotent FAIL "rows before/after run 1/after run 2: $before / $first / $second"
fi

# An agent that knows only the rebuilt catalog: the host enqueues a restore of the canary
# volume's newest backup onto $dst2 and a verify once it sees this agent start.
start_agent "$REBUILT_AGENT_URL"
t_rebuilt=$(date +%s.%N)
wait_jobs "$REBUILT_AGENT_URL" 2 && result jobs-ended-rebuilt PASS "$(clb_elapsed "$t_rebuilt") s" ||
  result jobs-ended-rebuilt FAIL
psql "$REBUILT_AGENT_URL" -P pager=off -tAc "SELECT id, kind, state, attempts, coalesce(last_error_code, '-') FROM jobs ORDER BY id"
stop_agent agent-exit-rebuilt
clb_mount_ro "/dev/$VG/$dst2" "$WORK/dst2"
clb_walk "$WORK/dst2" >"$WORK/walkc.after"
umount "$WORK/dst2"
if clb_compare walk-rebuilt "$WORK/walkc.before" "$WORK/walkc.after" >"$WORK/cmpc" 2>&1; then
  result walk-rebuilt PASS
else
  result walk-rebuilt FAIL
  cat "$WORK/cmpc"
fi

# No hostile value ran: none of its canaries, nor any file named like one, anywhere the
# agent, its tar or a shell could have written (/ is a tmpfs overlay of the host's root).
t_find=$(date +%s.%N)
found=""
for c in $CANARIES; do [ -e "$c" ] && found="$found $c"; done
found="$found $({
  find /tmp /out /run /var/tmp /dev/shm -xdev -name "*clbc-$CANARY_TAG*"
  # Not deeper: these are the host's trees over 9p (/root holds npm's cache).
  find "$PROJECT" / /root -xdev -maxdepth 2 -name "*clbc-$CANARY_TAG*"
} 2>/dev/null | sort -u | tr '\n' ' ')"
found=$(echo "$found" | xargs)
n=$(echo "$CANARIES" | wc -w)
[ -z "$found" ] && result canaries PASS "$n canary paths, 0 found ($(clb_elapsed "$t_find") s)" ||
  result canaries FAIL "found: $found"

left=$(clb_leftovers)
[ -z "$left" ] && result leftovers PASS || result leftovers FAIL "$left"
exit "$FAILED"
