#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# A file held under flock() and an fcntl() write lock by a process that keeps
# rewriting it, one 4 KiB record at a time, while sets are taken. Through the
# view, every set must show that file with no torn record, readable by cat and
# tar (no "file changed as we read it"), byte for byte equal to the snapshot
# beneath the view, and a tar of it must restore the same bytes.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

NRECORDS=4096 # 16 MiB
NSETS=5

require_root
require_cmd jq tar cmp flock

# reccheck FILE: verifies a records file, prints the highest generation in it.
reccheck_max_gen() {
	local out
	out=$(tool reccheck "$1" "$NRECORDS") || fail "reccheck '$1': $out"
	[[ $out =~ max\ ([0-9]+)$ ]] || fail "reccheck '$1' printed '$out'"
	printf '%s\n' "${BASH_REMATCH[1]}"
}

fs=$(make_btrfs fs 1G)
vol=$fs/vol
make_subvolume "$vol"

# The checker must be able to fail, or the checks below prove nothing.
writer="$STILLFS_TEST_TOOLS/recwriter"
[ -x "$writer" ] || fail "test tool recwriter not built"
"$writer" "$T/control" 64 --ready "$T/control.ready" &
pid=$!
track_pid "$pid"
wait_for 30 test -e "$T/control.ready"
kill -TERM "$pid"
timeout 10 tail --pid="$pid" -f /dev/null || fail "recwriter ignored SIGTERM"
wait "$pid" || fail "recwriter exited $? after SIGTERM"
tool reccheck "$T/control" 64 >/dev/null || fail "reccheck rejects an intact file"
# eight bytes in the fill pattern of record 17: a change with certainty
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' |
	dd of="$T/control" bs=1 seek=$((4096 * 17 + 2000)) conv=notrunc status=none
if out=$(tool reccheck "$T/control" 64); then
	fail "reccheck accepted a record with a flipped byte: $out"
fi
log "control: $out"

"$writer" "$vol/records" "$NRECORDS" --ready "$T/ready" &
pid=$!
track_pid "$pid"
wait_for 60 test -e "$T/ready"
if flock -n "$vol/records" true; then
	fail "recwriter does not hold its flock on $vol/records"
fi

ids=()
for i in $(seq "$NSETS"); do
	sleep 0.2
	kill -0 "$pid" 2>/dev/null || fail "recwriter died before set $i"
	id=$(create_set --label "locked-$i" "$vol") || fail "stillfs create of set $i failed"
	[ -n "$id" ] || fail "stillfs create printed no id for set $i"
	ids+=("$id")
	log "set $i: $id"
done
kill -0 "$pid" 2>/dev/null || fail "recwriter died while the sets were taken"

view=$T/view
mount_view "$view"

prev_gen=0
for i in "${!ids[@]}"; do
	id=${ids[$i]}
	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	token=$(jq -er .token <<<"$json") || fail "set $id: no token in: $json"
	name=$(jq -er '.volumes[0].name' <<<"$json") || fail "set $id: no volume name in: $json"
	state=$(jq -er .state <<<"$json") || fail "set $id: no state in: $json"
	[ "$state" = complete ] || fail "set $id is '$state', not complete"
	snap=$(snapshot_path "$id") || fail "set $id: no snapshot path"
	dir=$view/$token/$name
	[ -d "$dir" ] || fail "set $id: $dir is not a directory in the view"
	file=$dir/records

	# the writer still holds both locks on the live file while we read
	kill -0 "$pid" 2>/dev/null || fail "recwriter died during the checks"

	gen=$(reccheck_max_gen "$file") || exit 1
	[ "$gen" -gt "$prev_gen" ] ||
		fail "set $id: highest generation $gen is not above the previous set's $prev_gen: was the writer writing?"
	prev_gen=$gen

	cat "$file" >"$T/cat.out" || fail "set $id: cat $file failed"
	cmp "$T/cat.out" "$snap/records" || fail "set $id: cat of $file differs from $snap/records"
	rm -f "$T/cat.out"
	cmp "$file" "$snap/records" || fail "set $id: $file differs from $snap/records"

	tar -cf "$T/set.tar" -C "$view/$token" "$name" 2>"$T/tar.err" ||
		fail "set $id: tar exited $?: $(cat "$T/tar.err")"
	[ ! -s "$T/tar.err" ] || fail "set $id: tar complained: $(cat "$T/tar.err")"
	mkdir "$T/restore"
	tar -xf "$T/set.tar" -C "$T/restore" || fail "set $id: cannot extract the tar"
	cmp "$T/restore/$name/records" "$snap/records" ||
		fail "set $id: records restored from tar differ from the snapshot"
	tool reccheck "$T/restore/$name/records" "$NRECORDS" >/dev/null ||
		fail "set $id: records restored from tar are torn"
	rm -rf "$T/restore" "$T/set.tar" "$T/tar.err"
	log "set $id ($token): intact, highest generation $gen"
done

kill -TERM "$pid"
timeout 10 tail --pid="$pid" -f /dev/null || fail "recwriter did not stop on SIGTERM"
wait "$pid" || fail "recwriter exited $? after SIGTERM"
tool reccheck "$vol/records" "$NRECORDS" >/dev/null || fail "the live file is torn after the writer stopped"
log "ok"
