#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# A create or a delete killed at any point leaves nothing that gc does not
# clean up, and gc removes nothing that is not its to remove.
#
# - create killed (SIGKILL, through the failpoints) after the intent, before the
#   snapshot, after the snapshot: after gc the catalog and the storage are as if
#   the create never ran; killed after the commit: the set is complete and its
#   snapshot is there, and gc keeps it.
# - the next create cleans up such a leftover by itself.
# - delete killed after marking the set: the set shows as 'deleting', and gc
#   finishes it, snapshot and record.
# - an orphan read-only snapshot in the storage directory is removed; a plain
#   file, a plain directory, a writable subvolume and a writable snapshot there
#   are reported and left alone, and do not stop gc from doing the rest.
# - creates and gcs running at the same time: every create succeeds and every
#   complete set keeps its snapshot (gc never takes a set being created).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd jq btrfs

# not in $(...): make_btrfs must record its loop device in this shell for cleanup
make_btrfs fs 2G >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"
head -c 1M /dev/urandom >"$vol/data"
mkdir "$vol/dir"
echo "small" >"$vol/dir/small"

keep=$(create_set --label keep "$vol") || fail "stillfs create of the first set failed"
storage=$(stillfs show --json "$keep" | jq -er '.volumes[0].storage') || fail "no storage for set $keep"
keep_snap=$(snapshot_path "$keep") || fail "no snapshot for set $keep"
[ -d "$storage" ] || fail "storage $storage is not a directory"
# the storage relative to the filesystem's top, as 'btrfs subvolume list' names it
storage_rel=${storage#"$fs"/}

# ids of the sets in the catalog, with their states, sorted
sets() { stillfs list --json | jq -r '.[] | "\(.id) \(.state)"' | sort; }
# what is in the storage directory
stored() { find "$storage" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort; }
# subvolumes under the storage directory
subvols() { btrfs subvolume list "$fs" | awk '{ print $NF }' | grep -F "$storage_rel/" | sort || true; }

# expect_state WHAT: the catalog holds exactly the sets in $want_sets, the
# storage exactly $want_stored, and the subvolumes under it exactly $want_subvols.
expect_state() {
	local what=$1 got
	got=$(sets) || fail "$what: stillfs list failed"
	[ "$got" = "$want_sets" ] || fail "$what: sets are
$got
expected
$want_sets"
	got=$(stored)
	[ "$got" = "$want_stored" ] || fail "$what: the storage holds
$got
expected
$want_stored"
	got=$(subvols)
	[ "$got" = "$want_subvols" ] || fail "$what: the subvolumes under the storage are
$got
expected
$want_subvols"
}

# check_set ID: the set is complete and its snapshot is a read-only copy of the volume.
check_set() {
	local id=$1 json snap ro
	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	[ "$(jq -r .state <<<"$json")" = complete ] || fail "set $id is not complete: $json"
	snap=$(jq -er '.volumes[0].snapshot' <<<"$json") || fail "set $id has no snapshot: $json"
	jq -er '.volumes[0].snapshot_uuid' <<<"$json" >/dev/null || fail "set $id has no snapshot uuid: $json"
	[ -d "$snap" ] || fail "set $id: its snapshot $snap is missing"
	ro=$(btrfs property get -ts "$snap" ro) || fail "set $id: cannot read the ro property of $snap"
	[ "$ro" = "ro=true" ] || fail "set $id: $snap is not read-only ($ro)"
	cmp -s "$snap/data" "$vol/data" || fail "set $id: $snap/data differs from the volume"
}

want_sets="$keep complete"
want_stored=$(basename "$keep_snap")
want_subvols="$storage_rel/$(basename "$keep_snap")"
expect_state "after the first create"
check_set "$keep"

# --- create killed at each failpoint ---
for fp in create-after-intent create-before-snapshot create-after-snapshot create-after-commit; do
	rc=0
	out=$(STILLFS_FAILPOINT=$fp timeout 120 "$STILLFS" --catalog "$CATALOG" create --label "$fp" "$vol" 2>"$T/err") || rc=$?
	[ "$rc" -eq 137 ] || fail "$fp: create exited $rc, not 137 (SIGKILL); stdout '$out', stderr: $(cat "$T/err")"
	[ -z "$out" ] || fail "$fp: the killed create printed an id: $out"

	# what the crash left: a record in every case (the intent comes first)
	json=$(stillfs list --json) || fail "$fp: stillfs list failed after the crash"
	new=$(jq -r --arg keep "$keep" '[.[] | select(.id != $keep)] | .[].id' <<<"$json")
	[ "$(wc -w <<<"$new")" -eq 1 ] || fail "$fp: expected one new set record after the crash: $json"
	state=$(jq -r --arg id "$new" '.[] | select(.id == $id) | .state' <<<"$json")
	case $fp in
	create-after-commit) [ "$state" = complete ] || fail "$fp: set $new is '$state', not complete" ;;
	*) [ "$state" = creating ] || fail "$fp: set $new is '$state', not creating" ;;
	esac
	if [ "$fp" = create-after-snapshot ]; then
		[ -d "$storage/$new.0" ] || fail "$fp: no snapshot $new.0 in the storage"
	fi
	log "$fp: killed; set $new left '$state'; storage: $(stored | tr '\n' ' ')"

	rc=0
	timeout 120 "$STILLFS" --catalog "$CATALOG" gc 2>"$T/err" || rc=$?
	[ "$rc" -eq 0 ] || fail "$fp: gc exited $rc: $(cat "$T/err")"
	log "$fp: gc said: $(tr '\n' ' ' <"$T/err")"

	if [ "$fp" = create-after-commit ]; then
		want_sets=$(printf '%s\n%s complete\n' "$want_sets" "$new" | sort)
		want_stored=$(printf '%s\n%s.0\n' "$want_stored" "$new" | sort)
		want_subvols=$(printf '%s\n%s/%s.0\n' "$want_subvols" "$storage_rel" "$new" | sort)
		expect_state "$fp, after gc"
		check_set "$new"
	else
		expect_state "$fp, after gc"
		rc=0
		stillfs show "$new" >/dev/null 2>&1 || rc=$?
		[ "$rc" -ne 0 ] || fail "$fp: 'stillfs show $new' still finds the set"
	fi
	# gc a second time: nothing more to do, nothing lost
	timeout 120 "$STILLFS" --catalog "$CATALOG" gc 2>"$T/err" || fail "$fp: second gc failed: $(cat "$T/err")"
	expect_state "$fp, after a second gc"
done
check_set "$keep"

# --- the next create cleans up what a crash left, by itself ---
rc=0
# (the braces keep bash's "Killed" notice out of the log)
{ STILLFS_FAILPOINT=create-after-snapshot timeout 120 "$STILLFS" --catalog "$CATALOG" create "$vol" \
	>/dev/null 2>"$T/err"; } 2>/dev/null || rc=$?
[ "$rc" -eq 137 ] || fail "create-after-snapshot (again): exited $rc: $(cat "$T/err")"
crashed=$(stillfs list --json | jq -r '.[] | select(.state == "creating") | .id')
[ -n "$crashed" ] || fail "no 'creating' set left by the killed create"
next=$(create_set "$vol") || fail "the create after a crash failed"
check_set "$next"
want_sets=$(printf '%s\n%s complete\n' "$want_sets" "$next" | sort)
want_stored=$(printf '%s\n%s.0\n' "$want_stored" "$next" | sort)
want_subvols=$(printf '%s\n%s/%s.0\n' "$want_subvols" "$storage_rel" "$next" | sort)
expect_state "a create after a killed create (set $crashed)"

# --- delete killed after marking the set ---
victim=$(create_set --label victim "$vol") || fail "stillfs create of the set to delete failed"
victim_snap=$(snapshot_path "$victim") || fail "no snapshot for set $victim"
rc=0
{ STILLFS_FAILPOINT=delete-after-mark timeout 120 "$STILLFS" --catalog "$CATALOG" delete "$victim" \
	>/dev/null 2>"$T/err"; } 2>/dev/null || rc=$?
[ "$rc" -eq 137 ] || fail "delete-after-mark: delete exited $rc, not 137: $(cat "$T/err")"
state=$(stillfs show --json "$victim" | jq -r .state) || fail "delete-after-mark: set $victim is gone from the catalog"
[ "$state" = deleting ] || fail "delete-after-mark: set $victim is '$state', not deleting"
[ -d "$victim_snap" ] || fail "delete-after-mark: the snapshot went before the delete went on"
timeout 120 "$STILLFS" --catalog "$CATALOG" gc 2>"$T/err" || fail "delete-after-mark: gc failed: $(cat "$T/err")"
log "delete-after-mark: gc said: $(tr '\n' ' ' <"$T/err")"
[ ! -e "$victim_snap" ] || fail "delete-after-mark: gc left the snapshot $victim_snap"
expect_state "delete-after-mark, after gc"

# --- things in the storage directory that no set owns ---
orphan=$storage/deadbeef.0
btrfs -q subvolume snapshot -r "$vol" "$orphan" >/dev/null || fail "cannot make an orphan snapshot"
orphan2=$storage/not-even-an-id
btrfs -q subvolume snapshot -r "$vol" "$orphan2" >/dev/null || fail "cannot make a second orphan snapshot"
echo "an administrator's note" >"$storage/notes.txt"
mkdir "$storage/plaindir"
echo "kept" >"$storage/plaindir/file"
btrfs -q subvolume create "$storage/writable" >/dev/null || fail "cannot make a writable subvolume"
echo "kept" >"$storage/writable/file"
btrfs -q subvolume snapshot "$vol" "$storage/writable-snap" >/dev/null || fail "cannot make a writable snapshot"
foreign="notes.txt plaindir writable writable-snap"
base_stored=$want_stored
base_subvols=$want_subvols
sum_before=$(cd "$storage" && sha256sum notes.txt plaindir/file writable/file writable-snap/data)

rc=0
timeout 120 "$STILLFS" --catalog "$CATALOG" gc 2>"$T/err" || rc=$?
log "gc with orphans and foreign entries exited $rc: $(tr '\n' ' ' <"$T/err")"
[ ! -e "$orphan" ] || fail "gc left the orphan read-only snapshot $orphan"
[ ! -e "$orphan2" ] || fail "gc left the orphan read-only snapshot $orphan2"
for f in $foreign; do
	[ -e "$storage/$f" ] || fail "gc removed $storage/$f, which is not a snapshot"
	grep -qF "$storage/$f" "$T/err" || fail "gc did not report $storage/$f that it left alone: $(cat "$T/err")"
done
[ "$(cd "$storage" && sha256sum notes.txt plaindir/file writable/file writable-snap/data)" = "$sum_before" ] ||
	fail "gc changed the foreign entries in the storage"
[ "$(btrfs property get -ts "$storage/writable" ro)" = "ro=false" ] || fail "gc changed $storage/writable"
want_stored=$(printf '%s\n%s\n' "$want_stored" "$(tr ' ' '\n' <<<"$foreign")" | sort)
want_subvols=$(printf '%s\n%s/writable\n%s/writable-snap\n' "$want_subvols" "$storage_rel" "$storage_rel" | sort)
expect_state "gc with orphans and foreign entries"
rc=0
timeout 120 "$STILLFS" --catalog "$CATALOG" gc 2>"$T/err" || rc=$?
expect_state "a second gc with foreign entries"
check_set "$keep"
# clear them away for what follows
btrfs -q subvolume delete "$storage/writable" "$storage/writable-snap" >/dev/null ||
	fail "cannot delete the writable subvolumes"
rm -rf "$storage/notes.txt" "$storage/plaindir"
want_stored=$base_stored
want_subvols=$base_subvols
expect_state "after clearing the foreign entries"

# --- creates and gcs at the same time ---
ROUNDS=3
NCREATE=5
NGC=5
for round in $(seq "$ROUNDS"); do
	rm -f "$T/stop"
	cpids=()
	gpids=()
	for i in $(seq "$NCREATE"); do
		timeout 300 "$STILLFS" --catalog "$CATALOG" create --label "race-$round-$i" "$vol" \
			>"$T/create.$i.out" 2>"$T/create.$i.err" &
		cpids+=($!)
		track_pid "$!"
	done
	for i in $(seq "$NGC"); do
		(
			# gc over and over while the creates run (bounded)
			n=0
			while [ ! -e "$T/stop" ] && [ "$n" -lt 300 ]; do
				grc=0
				timeout 60 "$STILLFS" --catalog "$CATALOG" gc 2>"$T/gc.$i.last" || grc=$?
				[ "$grc" -eq 0 ] || echo "gc exited $grc: $(cat "$T/gc.$i.last")" >>"$T/gc.$i.fail"
				cat "$T/gc.$i.last" >>"$T/gc.$i.err"
				n=$((n + 1))
			done
			echo "$n" >"$T/gc.$i.count"
		) &
		gpids+=($!)
		track_pid "$!"
	done
	for i in $(seq "$NCREATE"); do
		rc=0
		wait "${cpids[$((i - 1))]}" || rc=$?
		[ "$rc" -eq 0 ] || fail "round $round: concurrent create $i exited $rc: $(cat "$T/create.$i.err")"
		id=$(cat "$T/create.$i.out")
		[ -n "$id" ] || fail "round $round: concurrent create $i printed no id"
	done
	touch "$T/stop"
	for p in "${gpids[@]}"; do
		wait "$p" || fail "round $round: a gc loop failed"
	done
	runs=0
	for i in $(seq "$NGC"); do
		runs=$((runs + $(cat "$T/gc.$i.count")))
		[ ! -e "$T/gc.$i.fail" ] ||
			fail "round $round: a gc running alongside the creates failed: $(head -n 5 "$T/gc.$i.fail")"
	done
	# nothing was left to clean up: a gc that removed something took it from a create
	# (each create runs a gc of its own first, and says what it removed)
	if removed=$(grep -h 'remov' "$T"/gc.*.err "$T"/create.*.err); then
		fail "round $round: a gc running alongside the creates removed: $removed; the creates made: $(cat "$T"/create.*.out | tr '\n' ' '); sets now: $(sets | tr '\n' ' '); storage now: $(stored | tr '\n' ' ')"
	fi
	for i in $(seq "$NCREATE"); do
		id=$(cat "$T/create.$i.out")
		check_set "$id"
		want_sets=$(printf '%s\n%s complete\n' "$want_sets" "$id" | sort)
		want_stored=$(printf '%s\n%s.0\n' "$want_stored" "$id" | sort)
		want_subvols=$(printf '%s\n%s/%s.0\n' "$want_subvols" "$storage_rel" "$id" | sort)
	done
	expect_state "round $round of concurrent creates and gcs"
	rm -f "$T"/create.* "$T"/gc.*
	log "round $round: $NCREATE creates alongside $runs gc runs: all complete, all snapshots there"
done
check_set "$keep"
log "ok"
