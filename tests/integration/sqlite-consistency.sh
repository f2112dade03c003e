#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# A SQLite database that a process keeps committing to (WAL and rollback
# journal, with and without locking_mode=EXCLUSIVE) while sets are taken.
# The database files copied out of each set through the view (cp and tar)
# must pass PRAGMA integrity_check and hold exactly the rows of the
# transactions that committed before the snapshot, and equal the snapshot
# beneath the view byte for byte.
#
# With SQLITE_PROVIDER=copy (copy-sqlite.sh) the volume is a directory of an
# ext4 filesystem, copied by the copy provider into storage on another ext4,
# and the writer runs in a test cgroup that each set holds (--hold): the
# database and its journal or WAL are then copied as of one instant.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
PROVIDER=${SQLITE_PROVIDER:-btrfs}

ROWS=10
NSETS=3

require_root
require_cmd jq tar cmp

: "${STILLFS_TOOLS_DIR:?STILLFS_TOOLS_DIR must name the build directory of the tools}"
writer=$STILLFS_TOOLS_DIR/stillfs-sqlite-writer
checker=$STILLFS_TOOLS_DIR/stillfs-sqlite-check
[ -x "$writer" ] || fail "$writer not built"
[ -x "$checker" ] || fail "$checker not built"

hold=()
if [ "$PROVIDER" = copy ]; then
	require_cmd mkfs.ext4
	# shellcheck source=cgroup.sh
	. "$(dirname "$0")/cgroup.sh"
	cgroup_setup
	vol=$(make_fs ext4 fs 4G)/vol
	mkdir "$vol"
	storage=$(make_fs ext4 sto 8G)/copies
	hold=(--storage "$storage" --hold "$CG_TOP/app")
	mkdir "$CG_TOP/app"
else
	fs=$(make_btrfs fs 4G)
	vol=$fs/vol
	make_subvolume "$vol"
fi

# check_db DB WHAT: runs the checker, prints the number of commits it found.
check_db() {
	local out
	out=$("$checker" --rows-per-txn "$ROWS" "$1" 2>&1) || fail "$2: $out"
	[[ $out =~ ^consistent:\ ([0-9]+)\ commits ]] || fail "$2: checker printed '$out'"
	printf '%s\n' "${BASH_REMATCH[1]}"
}

# stop_writer PID: SIGTERM, then the writer must exit 0 within 20 s (a
# writer started in a cgroup is no child of this shell: its status is not
# known, and the check of the live database that follows is what counts).
stop_writer() {
	local pid=$1 rc=0
	kill -TERM "$pid"
	timeout 20 tail --pid="$pid" -f /dev/null || fail "sqlite writer did not stop on SIGTERM"
	[ "$PROVIDER" != copy ] || return 0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "sqlite writer exited $rc after SIGTERM"
}

# The checker must be able to fail, or the checks below prove nothing.
control() {
	local dir=$T/control pid size out
	mkdir "$dir"
	"$writer" --journal delete --rows-per-txn "$ROWS" --transactions 200 "$dir/db.sqlite" 2>/dev/null &
	pid=$!
	track_pid "$pid"
	timeout 60 tail --pid="$pid" -f /dev/null || fail "control writer did not finish 200 transactions"
	wait "$pid" || fail "control writer exited $?"
	check_db "$dir/db.sqlite" "control database" >/dev/null

	cp "$dir/db.sqlite" "$dir/short.sqlite"
	size=$(stat -c %s "$dir/short.sqlite")
	truncate -s $((size / 2 / 4096 * 4096)) "$dir/short.sqlite"
	if out=$("$checker" "$dir/short.sqlite" 2>&1); then
		fail "checker accepted a database cut to half its size: $out"
	fi

	if command -v sqlite3 >/dev/null; then
		cp "$dir/db.sqlite" "$dir/lost.sqlite"
		sqlite3 "$dir/lost.sqlite" "DELETE FROM t WHERE id = (SELECT max(id) FROM t)" ||
			fail "sqlite3 cannot change the control copy"
		if out=$("$checker" "$dir/lost.sqlite" 2>&1); then
			fail "checker accepted a database missing a committed row: $out"
		fi
		log "control: $out"
	fi
	rm -rf "$dir"
}

# verify_set ID SUBDIR PREV: checks the database in SUBDIR of set ID through a
# view of that set alone; prints its number of commits, which must exceed PREV.
verify_set() {
	local id=$1 sub=$2 prev=$3 json name snap mnt src f commits n
	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	name=$(jq -er '.volumes[0].name' <<<"$json") || fail "set $id: no volume name in: $json"
	[ "$(jq -er .state <<<"$json")" = complete ] || fail "set $id is not complete: $json"
	snap=$(snapshot_path "$id") || fail "set $id: no snapshot path"
	[ -n "$name" ] || fail "set $id: empty volume name"

	mnt=$T/view-$id
	mount_view "$mnt" --set "$id" >&2
	src=$mnt/$sub
	[ -f "$src/db.sqlite" ] || fail "set $id: no $src/db.sqlite in the view"
	log "set $id: $(cd "$src" && echo *)"

	mkdir "$T/copy" "$T/untar"
	cp -a "$src/." "$T/copy/" || fail "set $id: cp -a out of the view failed"
	for f in "$T"/copy/*; do
		cmp "$f" "$snap/$sub/${f##*/}" ||
			fail "set $id: $f copied from the view differs from the snapshot"
	done
	commits=$(check_db "$T/copy/db.sqlite" "set $id ($sub) copied with cp") || exit 1
	[ "$commits" -gt "$prev" ] ||
		fail "set $id: $commits commits, not more than the previous set's $prev: was the writer writing?"

	tar -cf "$T/set.tar" -C "$mnt" "$sub" 2>"$T/tar.err" ||
		fail "set $id: tar exited $?: $(cat "$T/tar.err")"
	[ ! -s "$T/tar.err" ] || fail "set $id: tar complained: $(cat "$T/tar.err")"
	tar -xf "$T/set.tar" -C "$T/untar" || fail "set $id: cannot extract the tar"
	n=$(check_db "$T/untar/$sub/db.sqlite" "set $id ($sub) restored from tar") || exit 1
	[ "$n" -eq "$commits" ] || fail "set $id: tar copy holds $n commits, cp copy $commits"

	# straight from the read-only view: the checker recovers a private copy
	n=$(check_db "$src/db.sqlite" "set $id ($sub) checked in the view") || exit 1
	[ "$n" -eq "$commits" ] || fail "set $id: view holds $n commits, cp copy $commits"

	rm -rf "$T/copy" "$T/untar" "$T/set.tar" "$T/tar.err"
	timeout 30 "$STILLFS" --catalog "$CATALOG" umount "$mnt" >&2 || fail "stillfs umount $mnt failed"
	printf '%s\n' "$commits"
}

# run_case JOURNAL [--exclusive]
run_case() {
	local journal=$1 exclusive=${2:-} sub pid id prev=0 i
	local -a ids=()
	sub=db-$journal${exclusive:+-exclusive}
	mkdir "$vol/$sub"
	if [ "$PROVIDER" = copy ]; then
		run_in_cgroup "$CG_TOP/app" "$writer" --journal "$journal" ${exclusive:+"$exclusive"} \
			--rows-per-txn "$ROWS" --ready "$T/$sub.ready" "$vol/$sub/db.sqlite"
		pid=$!
	else
		"$writer" --journal "$journal" ${exclusive:+"$exclusive"} --rows-per-txn "$ROWS" \
			--ready "$T/$sub.ready" "$vol/$sub/db.sqlite" &
		pid=$!
		track_pid "$pid"
	fi
	wait_for 60 test -e "$T/$sub.ready"
	sleep 0.5

	if [ -n "$exclusive" ] && command -v sqlite3 >/dev/null; then
		# the lock really is held while the sets are taken
		if sqlite3 "$vol/$sub/db.sqlite" "PRAGMA busy_timeout=0; SELECT count(*) FROM commits" \
			>/dev/null 2>&1; then
			fail "$sub: another connection could read the database the writer holds exclusively"
		fi
	fi

	for i in $(seq "$NSETS"); do
		sleep 0.3
		kill -0 "$pid" 2>/dev/null || fail "$sub: writer died before set $i"
		id=$(create_set --label "$sub-$i" "${hold[@]}" "$vol") ||
			fail "$sub: stillfs create of set $i failed"
		[ -n "$id" ] || fail "$sub: stillfs create printed no id for set $i"
		ids+=("$id")
	done
	kill -0 "$pid" 2>/dev/null || fail "$sub: writer died while the sets were taken"
	# stopped before the checks, which take long on a big database: a writer
	# left running meanwhile fills the volume (and, copied, the storage)
	stop_writer "$pid"
	check_db "$vol/$sub/db.sqlite" "$sub: live database after the writer stopped" >/dev/null

	for id in "${ids[@]}"; do
		prev=$(verify_set "$id" "$sub" "$prev") || exit 1
		log "$sub: set $id holds $prev consistent commits"
	done
	# (the sets keep their own copies; the next case's sets need not hold this one)
	rm -rf "${vol:?}/$sub"
}

control
run_case wal
run_case delete
run_case wal --exclusive
run_case delete --exclusive
log "ok"
