#!/usr/bin/env bash
# End to end INSIDE the storage-node guest (disk /dev/vda >= 2 GiB): a Cinder-style volume
# on real LVM, the agent (`node dist/cli.js agent`) reaching the host's Postgres only
# through QEMU's restricted forward (10.0.2.100:5432), and the jobs the HOST test puts on
# the queue: a backup, then a verify and a restore onto a second, larger LV.
# Env: DATABASE_URL, VOL_ID, TARGET_ID, BACKEND (host@backend), WAIT_SEC.
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
clb_log "volumes ready: $src (source), $dst (restore target)"

# The agent, as systemd would run it; the host enqueued the backup before we booted.
start_agent() {
  CLB_LOG_LEVEL=debug node "$PROJECT/dist/cli.js" agent --host "$BACKEND" --dest /out/backups \
    --poll-seconds 1 --lease-seconds 10 --stop-timeout 60 >>"$WORK/agent.out" 2>>/out/agent.log &
  agent=$!
  clb_log "agent started (pid $agent)"
}
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

# Wait for the host's restore and verify jobs to end (the host enqueues them after the
# backup succeeded).
deadline=$(($(date +%s) + ${WAIT_SEC:-600}))
ended=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  ended=$(psql "$DATABASE_URL" -tAc \
    "SELECT count(*) FROM jobs WHERE kind IN ('restore', 'verify') AND state IN ('succeeded', 'failed', 'cancelled')" 2>/dev/null || echo 0)
  [ "$ended" = 2 ] && break
  kill -0 "$agent" 2>/dev/null || break
  sleep 2
done
[ "$ended" = 2 ] && result jobs-ended PASS || result jobs-ended FAIL "ended=$ended"
psql "$DATABASE_URL" -P pager=off -tAc "SELECT id, kind, state, attempts, coalesce(last_error_code, '-') FROM jobs ORDER BY id"

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
code=$?
[ "$code" = 0 ] && result agent-exit PASS || result agent-exit FAIL "exit $code; $(tail -5 /out/agent.log)"
head -1 "$WORK/agent.out"

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
left=$(clb_leftovers)
[ -z "$left" ] && result leftovers PASS || result leftovers FAIL "$left"
exit "$FAILED"
