#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# copy-freeze: --freeze-fs. twovol writes its counts to two ext4 volumes (A,
# then B), in no cgroup of ours: only the filesystem freeze stops it. Sets of
# both volumes are made with --freeze-fs, the storage on a third filesystem:
#
# - every set shows A = B or A = B + 1, the counters advance, both
#   filesystems are recorded as frozen and are writable again afterwards, and
#   the storage holds the copies of complete sets only;
# - with --hold as well, the cgroup and the filesystems are recorded and
#   released;
# - refused, before anything is made: the storage on the volume's filesystem,
#   the catalog on it, the stillfs program on it, the filesystem of /, and a
#   btrfs volume (a btrfs snapshot writes to its filesystem);
# - a create killed while the filesystems are frozen (failpoint fs-frozen):
#   both are writable again within the deadline, and gc leaves the storage
#   clean;
# - a create stopped (SIGSTOP) while they are frozen: the guard thaws them at
#   the hold's deadline, and once continued the create fails saying so.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=cgroup.sh
. "$(dirname "$0")/cgroup.sh"

NSETS=3
HOLD_TIMEOUT=3
GRACE=3 # how much longer than the deadline a thaw may take to be seen
require_cmd fsfreeze
# shellcheck source=copy-twovol.sh
. "$(dirname "$0")/copy-twovol.sh"
fa=$T/fa
fb=$T/fb

"$STILLFS_TEST_TOOLS/twovol" --ready "$T/ready" --spin 2000 "$va/counter" "$vb/counter" &
twovol=$!
track_pid "$twovol"
wait_for 10 test -e "$T/ready"

# writable_within SECONDS DIR: a file can be created in DIR within SECONDS (a
# write to a frozen filesystem waits, uninterruptibly, until it is thawed)
writable_within() {
	local secs=$1 dir=$2 pid deadline
	touch "$dir/.probe.$$" &
	pid=$!
	deadline=$((SECONDS + secs))
	while kill -0 "$pid" 2>/dev/null; do
		[ "$SECONDS" -le "$deadline" ] || return 1
		sleep 0.05
	done
	wait "$pid" && rm -f "$dir/.probe.$$"
}

prev=0
for i in $(seq "$NSETS"); do
	id=$(create_set --no-writers --storage "$sto" --freeze-fs --hold-timeout "$HOLD_TIMEOUT" \
		"$va" "$vb") || fail "create --freeze-fs $i"
	json=$(stillfs show --json "$id")
	a=$(check_counters "$id" "$prev") || exit 1
	prev=$a
	jq -e --arg a "$fa" --arg b "$fb" '.frozen_filesystems == [$a, $b] and .holds == []' \
		<<<"$json" >/dev/null || fail "set $id does not record the frozen filesystems: $json"
	jq -e '.hold_ns > 0' <<<"$json" >/dev/null || fail "set $id records no hold time: $json"
	{ writable_within 5 "$va" && writable_within 5 "$vb"; } ||
		fail "after set $id a volume's filesystem is still frozen"
	storage_clean
	log "set $i ($id): A $a, frozen for $(jq -r '.hold_ns / 1e6' <<<"$json") ms"
done
kill -0 "$twovol" 2>/dev/null || fail "twovol stopped"
stillfs show "$id" | grep -q "filesystems frozen: $fa $fb" ||
	fail "show does not name the frozen filesystems: $(stillfs show "$id")"

# with a cgroup held too: both recorded, both released
cgroup_setup
cg=$CG_TOP/idle
mkdir "$cg"
run_in_cgroup "$cg" sleep 600
id=$(create_set --no-writers --storage "$sto" --freeze-fs --hold "$cg" \
	--hold-timeout "$HOLD_TIMEOUT" "$va" "$vb") || fail "create --freeze-fs --hold"
json=$(stillfs show --json "$id")
jq -e --arg a "$fa" --arg b "$fb" --arg c "$cg" \
	'.frozen_filesystems == [$a, $b] and .holds == [$c]' <<<"$json" >/dev/null ||
	fail "set $id does not record both the cgroup and the filesystems: $json"
prev=$(check_counters "$id" "$prev") || exit 1
cg_thawed "$cg" || fail "the cgroup is frozen after set $id"
writable_within 5 "$va" || fail "after set $id the filesystem of A is still frozen"
log "ok: --freeze-fs with --hold records and releases both"

# refused, with the reason, before any set is recorded
nsets=$(stillfs list --json | jq length)
refused() {
	local want=$1 rc=0
	shift
	timeout 60 "$@" >/dev/null 2>"$T/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "exit $rc, not 1, for: $* ($(cat "$T/err"))"
	grep -q -- "$want" "$T/err" || fail "no '$want' in the refusal of: $* ($(cat "$T/err"))"
	log "refused as expected: $(tail -n 1 "$T/err")"
}
mkdir "$fa/copies"
refused "holds the storage" "$STILLFS" --catalog "$CATALOG" create --no-writers --storage "$fa/copies" --freeze-fs "$va"
refused "holds the catalog" "$STILLFS" --catalog "$fa/catalog.db" create --no-writers \
	--storage "$sto" --freeze-fs "$va"
mkdir "$fa/bin"
cp "$STILLFS" "$fa/bin/stillfs"
refused "holds the stillfs program" "$fa/bin/stillfs" --catalog "$CATALOG" create --no-writers \
	--storage "$sto" --freeze-fs "$va"
rm -r "${fa:?}/bin" "$fa/copies" "$fa/catalog.db"*
if [ "$(stat -c %d "$T")" = "$(stat -c %d /)" ]; then
	mkdir "$T/on-root"
	refused "holds /" "$STILLFS" --catalog "$CATALOG" create --no-writers --storage "$sto" --freeze-fs "$T/on-root"
else
	log "not tried: refusing the filesystem of / ($T is on another filesystem)"
fi
bt=$(make_btrfs bt 256M)
refused "writes to the filesystem it snapshots" "$STILLFS" --catalog "$CATALOG" create --no-writers --freeze-fs "$bt"
[ "$(stillfs list --json | jq length)" = "$nsets" ] || fail "a refused create recorded a set"
writable_within 5 "$va" || fail "a refusal left the filesystem of A frozen"

# killed while frozen: thawed at once by the guard, gc cleans up
rc=0
STILLFS_FAILPOINT=fs-frozen timeout 120 "$STILLFS" --catalog "$CATALOG" create --no-writers \
	--storage "$sto" --freeze-fs --hold-timeout "$HOLD_TIMEOUT" "$va" "$vb" >/dev/null 2>"$T/err" ||
	rc=$?
[ "$rc" -eq 137 ] || fail "the create with failpoint fs-frozen exited $rc: $(cat "$T/err")"
{ writable_within $((HOLD_TIMEOUT + GRACE)) "$va" && writable_within 2 "$vb"; } ||
	fail "a create killed while the filesystems were frozen left one frozen"
stillfs gc >"$T/gc.out" 2>&1 || fail "gc after the kill: $(cat "$T/gc.out")"
storage_clean
kill -0 "$twovol" 2>/dev/null || fail "twovol stopped after the kill"
log "ok: a create killed while the filesystems were frozen left them thawed"

# stopped while frozen: the guard thaws at the deadline
STILLFS_FAILPOINT=fs-frozen:stop "$STILLFS" --catalog "$CATALOG" create --no-writers \
	--storage "$sto" --freeze-fs --hold-timeout "$HOLD_TIMEOUT" "$va" "$vb" >/dev/null 2>"$T/err" &
creator=$!
track_pid "$creator"
stopped() { [ "$(awk '{ print $3 }' "/proc/$creator/stat" 2>/dev/null)" = T ]; }
wait_for 60 stopped
start=$SECONDS
{ writable_within $((HOLD_TIMEOUT + GRACE)) "$va" && writable_within 2 "$vb"; } ||
	fail "the guard did not thaw the filesystems of a stopped create within the deadline"
log "a stopped create's filesystems were thawed after $((SECONDS - start)) s"
kill -CONT "$creator"
rc=0
timeout 60 tail --pid="$creator" -f /dev/null || fail "the continued create did not end"
wait "$creator" || rc=$?
[ "$rc" -eq 1 ] || fail "the continued create exited $rc: $(cat "$T/err")"
grep -q "deadline" "$T/err" || fail "the continued create does not say the deadline passed: $(cat "$T/err")"
stillfs gc >"$T/gc.out" 2>&1 || fail "gc after the stopped create: $(cat "$T/gc.out")"
storage_clean
kill -0 "$twovol" 2>/dev/null || fail "twovol stopped after the stopped create"
log "ok: $(tail -n 1 "$T/err")"

# stopped while frozen, then its guard and itself killed: nothing is left to
# thaw the filesystems but gc, which thaws what the unfinished set recorded
STILLFS_FAILPOINT=fs-frozen:stop "$STILLFS" --catalog "$CATALOG" create --no-writers \
	--storage "$sto" --freeze-fs --hold-timeout 60 "$va" "$vb" >/dev/null 2>"$T/err" &
creator=$!
track_pid "$creator"
wait_for 60 stopped
guard=$(pgrep -P "$creator" -x stillfs-guard) || fail "no guard under the stopped create"
kill -KILL "$guard" "$creator"
timeout 10 tail --pid="$creator" -f /dev/null || fail "the killed create did not end"
timeout 10 tail --pid="$guard" -f /dev/null || fail "the killed guard did not end"
wait "$creator" 2>/dev/null || true
! writable_within 1 "$va" || fail "the filesystem of A was not frozen after killing create and guard"
stillfs gc >"$T/gc.out" 2>&1 || fail "gc after killing create and guard: $(cat "$T/gc.out")"
{ writable_within 5 "$va" && writable_within 5 "$vb"; } ||
	fail "gc did not thaw the filesystems left frozen: $(cat "$T/gc.out")"
grep -q "thawed $fa, left frozen by unfinished set" "$T/gc.out" ||
	fail "gc did not say what it thawed: $(cat "$T/gc.out")"
storage_clean
kill -0 "$twovol" 2>/dev/null || fail "twovol stopped after the thaw by gc"
log "ok: $(head -n 1 "$T/gc.out")"
log "every check passed"
