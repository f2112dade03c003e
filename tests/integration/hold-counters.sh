#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The hold makes several volumes show one instant. twovol counts forever and
# writes each count n to a file on volume A, then to a file on volume B (two
# system calls, two filesystems), so at any instant A is B or B + 1. It runs in
# a test cgroup, and sets of both volumes are taken with --hold on that cgroup:
#
# - every held set shows A = B or A = B + 1, and reports its hold duration
#   (hold_ns) and its consistency level; the counters keep advancing between
#   sets, and the cgroup is thawed after each one;
# - the same number of sets without the hold are taken and the ones whose
#   counters drifted apart are counted and reported (not asserted: it is a
#   matter of timing), to show what the hold is for;
# - at the end the cgroup is not frozen and twovol is still counting.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=cgroup.sh
. "$(dirname "$0")/cgroup.sh"

NSETS=10
HOLD_TIMEOUT=10 # seconds, the default

require_root
require_cmd jq btrfs find

# --- test cgroups: one parent per test, thawed, emptied and removed at exit ---
cgroup_setup

make_btrfs fa 1G >/dev/null
make_btrfs fb 1G >/dev/null
va=$T/fa/data
vb=$T/fb/wal
make_subvolume "$va"
make_subvolume "$vb"

cg=$CG_TOP/app
mkdir "$cg"
run_in_cgroup "$cg" "$STILLFS_TEST_TOOLS/twovol" --ready "$T/ready" --spin 2000 "$va/counter" "$vb/counter"
twovol=$!
wait_for 10 test -e "$T/ready"
grep -qx "$twovol" "$cg/cgroup.procs" || fail "twovol ($twovol) is not in $cg"

# counters ID: prints "A B" as read from the set's snapshots of volume A and B.
counters() {
	local json sa sb a b
	json=$(stillfs show --json "$1") || fail "stillfs show --json $1 failed"
	sa=$(jq -er --arg p "$va" '.volumes[] | select(.path == $p) | .snapshot' <<<"$json") ||
		fail "set $1 has no snapshot of $va: $json"
	sb=$(jq -er --arg p "$vb" '.volumes[] | select(.path == $p) | .snapshot' <<<"$json") ||
		fail "set $1 has no snapshot of $vb: $json"
	a=$(cat "$sa/counter") || fail "set $1: cannot read $sa/counter"
	b=$(cat "$sb/counter") || fail "set $1: cannot read $sb/counter"
	[[ $a =~ ^[0-9]{20}$ && $b =~ ^[0-9]{20}$ ]] || fail "set $1: counters '$a' and '$b' are not counts"
	printf '%s %s\n' "$((10#$a))" "$((10#$b))"
}

nowriters=$T/no-writers # missing: no writers but the ones named

# --- with the hold ---
prev=0
for i in $(seq "$NSETS"); do
	kill -0 "$twovol" 2>/dev/null || fail "twovol died before held set $i"
	id=$(create_set --writers-dir "$nowriters" --label "held-$i" --hold "$cg" "$va" "$vb") ||
		fail "stillfs create --hold $cg of set $i failed"
	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	[ "$(jq -r .state <<<"$json")" = complete ] || fail "held set $id is not complete: $json"
	consistency=$(jq -r .consistency <<<"$json")
	case $consistency in
	application | crash) ;;
	*) fail "held set $id reports consistency '$consistency': $json" ;;
	esac
	hold_ns=$(jq -r .hold_ns <<<"$json")
	[[ $hold_ns =~ ^[0-9]+$ ]] || fail "held set $id reports no hold duration (hold_ns $hold_ns): $json"
	((hold_ns > 0 && hold_ns <= HOLD_TIMEOUT * 1000000000)) ||
		fail "held set $id reports a hold of $hold_ns ns"
	jq -e --arg cg "$cg" '(.holds // [$cg]) | index($cg) != null' <<<"$json" >/dev/null ||
		fail "held set $id does not record the cgroup $cg it held: $json"
	cg_thawed "$cg" || fail "after held set $id, $cg is still frozen: freeze $(cat "$cg/cgroup.freeze"), $(tr '\n' ' ' <"$cg/cgroup.events")"
	ab=$(counters "$id") || exit 1
	read -r a b <<<"$ab"
	[ "$a" -eq "$b" ] || [ "$a" -eq $((b + 1)) ] ||
		fail "held set $id shows A = $a, B = $b: the volumes are not of one instant"
	[ "$a" -gt "$prev" ] || fail "held set $id: counter $a did not advance past $prev (twovol stuck?)"
	prev=$a
	log "held set $i ($id): A $a, B $b, hold ${hold_ns} ns, $consistency-consistent"
done

# --- without the hold: the volumes are snapshotted one after the other ---
drifted=0
example=
for i in $(seq "$NSETS"); do
	kill -0 "$twovol" 2>/dev/null || fail "twovol died before unheld set $i"
	id=$(create_set --writers-dir "$nowriters" --label "unheld-$i" "$va" "$vb") ||
		fail "stillfs create of unheld set $i failed"
	[ "$(stillfs show --json "$id" | jq -r .state)" = complete ] || fail "unheld set $id is not complete"
	hold_ns=$(stillfs show --json "$id" | jq -r .hold_ns)
	[ "$hold_ns" = null ] || fail "set $id was made without --hold but reports hold_ns $hold_ns"
	ab=$(counters "$id") || exit 1
	read -r a b <<<"$ab"
	if [ "$a" -ne "$b" ] && [ "$a" -ne $((b + 1)) ]; then
		drifted=$((drifted + 1))
		example="set $id: A $a, B $b (B - A = $((b - a)))"
	fi
done
log "without the hold, $drifted of $NSETS sets show the two volumes at different instants${example:+; e.g. $example}"

# --- nothing is left frozen, twovol is still counting ---
cg_thawed "$cg" || fail "$cg is frozen at the end: freeze $(cat "$cg/cgroup.freeze"), $(tr '\n' ' ' <"$cg/cgroup.events")"
kill -0 "$twovol" 2>/dev/null || fail "twovol died"
n1=$(cat "$va/counter")
sleep 0.2
n2=$(cat "$va/counter")
[ "$((10#$n2))" -gt "$((10#$n1))" ] || fail "twovol is not counting at the end ($n1, then $n2)"
kill -TERM "$twovol"
timeout 10 tail --pid="$twovol" -f /dev/null || fail "twovol ignored SIGTERM"
log "ok"
