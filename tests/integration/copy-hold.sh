#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# copy-hold: the hold with the copy provider. Two ext4 volumes (not btrfs, so
# both are copied) and twovol counting in a test cgroup, writing each count to
# volume A, then to volume B: at any instant A is B or B + 1. Sets of both
# volumes are made with --hold on the cgroup: each copy is made before the
# hold and refreshed inside it (what changed since copied again):
#
# - every held set shows A = B or A = B + 1, the counters advance, the cgroup
#   is thawed after each, and the storage holds complete sets' copies only;
# - a create killed in its copy before the hold and one killed in its refresh
#   (inside the hold, the cgroup frozen) leave the cgroup thawed within the
#   hold's deadline, and gc removes what they left;
# - a hold too short for the refresh fails the set with a clear reason,
#   thawed, its copies removed.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=cgroup.sh
. "$(dirname "$0")/cgroup.sh"

NSETS=5
# shellcheck source=copy-twovol.sh
. "$(dirname "$0")/copy-twovol.sh"
cgroup_setup

cg=$CG_TOP/app
mkdir "$cg"
run_in_cgroup "$cg" "$STILLFS_TEST_TOOLS/twovol" --ready "$T/ready" --spin 2000 "$va/counter" "$vb/counter"
twovol=$!
wait_for 10 test -e "$T/ready"

prev=0
for i in $(seq "$NSETS"); do
	id=$(create_set --no-writers --storage "$sto" --hold "$cg" "$va" "$vb") ||
		fail "held create $i"
	json=$(stillfs show --json "$id")
	[ "$(jq -r '[.volumes[].provider] | unique | join(",")' <<<"$json")" = copy ] ||
		fail "set $id was not made by the copy provider: $json"
	a=$(check_counters "$id" "$prev") || exit 1
	prev=$a
	cg_thawed "$cg" || fail "after held set $id the cgroup is still frozen"
	storage_clean
	log "held set $i ($id): A $a, hold $(jq -r .hold_ns <<<"$json") ns"
done
kill -0 "$twovol" 2>/dev/null || fail "twovol stopped"

# killed_create FAILPOINT: a held create killed there leaves a thawed cgroup
# and nothing that gc does not remove
killed_create() {
	local fp=$1 rc=0
	STILLFS_FAILPOINT=$fp timeout 120 "$STILLFS" --catalog "$CATALOG" create --no-writers \
		--storage "$sto" --hold "$cg" --hold-timeout 5 "$va" "$vb" >/dev/null 2>"$T/err" || rc=$?
	[ "$rc" -eq 137 ] || fail "the create with failpoint $fp exited $rc: $(cat "$T/err")"
	wait_for 10 cg_thawed "$cg"
	stillfs gc >"$T/gc.out" 2>&1 || fail "gc after $fp: $(cat "$T/gc.out")"
	storage_clean
	kill -0 "$twovol" 2>/dev/null || fail "twovol stopped after $fp"
	log "ok: a create killed at $fp left the cgroup thawed and gc removed what it left"
}
killed_create copy-midway
killed_create copy-midway-held

# a hold too short for the refresh: the set fails, thawed, nothing kept.
# The refresh looks at every entry (60,000 more names here, about 5 us each),
# which takes far longer than 0.05 s, while freezing one process takes a few
# milliseconds. The names are hard links of one file, so that neither the
# volume nor the storage runs out of inodes.
python3 - "$va/many" <<'EOF' || fail "cannot make the many names"
import os, sys
os.mkdir(sys.argv[1])
first = os.path.join(sys.argv[1], "0")
with open(first, "w") as f:
    f.write("one file, many names")
for i in range(1, 60000):
    os.link(first, os.path.join(sys.argv[1], str(i)))
EOF
rc=0
timeout 120 "$STILLFS" --catalog "$CATALOG" create --no-writers --storage "$sto" --hold "$cg" \
	--hold-timeout 0.05 "$va" "$vb" >/dev/null 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "a create with a 0.05 s hold exited $rc: $(cat "$T/err")"
grep -q "did not finish before the hold's deadline" "$T/err" || fail "no clear reason for the short hold: $(cat "$T/err")"
cg_thawed "$cg" || fail "the cgroup is frozen after the short hold"
storage_clean
log "ok: a hold too short for the refresh failed the set: $(tail -1 "$T/err")"
log "every check passed"
