#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The SQLite session writer (tools/writers/sqlite.session) while a program
# keeps committing to a WAL database: each set is "application"-consistent,
# the writer's phases are recorded as ok, the database is locked from the
# writer's freeze to the snapshot (a probe hook run after it finds the lock
# held, and the set holds exactly the transactions committed when the probe
# looked), the copy out of the view passes stillfs-sqlite-check, no sqlite3
# of the writer is left behind, and the program goes on writing afterwards.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

ROWS=10
NSETS=3

require_root
require_cmd jq sqlite3 fuser

: "${STILLFS_TOOLS_DIR:?STILLFS_TOOLS_DIR must name the build directory of the tools}"
: "${STILLFS_SOURCE_ROOT:?STILLFS_SOURCE_ROOT must name the source tree}"
load=$STILLFS_TOOLS_DIR/stillfs-sqlite-writer
checker=$STILLFS_TOOLS_DIR/stillfs-sqlite-check
session=$(realpath -m "$STILLFS_SOURCE_ROOT/tools/writers/sqlite.session")
[ -x "$load" ] || fail "$load not built"
[ -x "$checker" ] || fail "$checker not built"
[ -x "$session" ] || fail "$session is missing or not executable"

fs=$(make_btrfs fs 4G)
vol=$fs/vol
make_subvolume "$vol"
db=$vol/db.sqlite

# no writer of this machine's /etc/stillfs/writers.d takes part
mkdir "$T/writers.d"

# A hook run after the session writer: at freeze the database must already be
# locked against writers; its message is the last committed transaction.
probe=$T/sqlite-lock-probe
cat >"$probe" <<'EOF'
#!/bin/bash
db=$PROBE_DB
case $1 in
freeze)
	if out=$(sqlite3 -init /dev/null -batch "$db" \
		'.timeout 200' 'BEGIN IMMEDIATE;' 'ROLLBACK;' 2>&1); then
		echo "not locked: another writer could begin a transaction"
		exit 1
	fi
	case $out in
	*"database is locked"*) ;;
	*) echo "cannot probe: $out"; exit 1 ;;
	esac
	if ! txn=$(sqlite3 -init /dev/null -batch "$db" \
		'.timeout 5000' 'SELECT max(txn) FROM commits;' 2>&1); then
		echo "cannot read: $txn"
		exit 1
	fi
	echo "locked at transaction $txn"
	;;
*) echo "nothing to do" ;;
esac
EOF
chmod 0755 "$probe"
export PROBE_DB=$db

"$load" --journal wal --rows-per-txn "$ROWS" --ready "$T/ready" "$db" 2>"$T/load.err" &
load_pid=$!
track_pid "$load_pid"
wait_for 60 test -e "$T/ready"

export STILLFS_SQLITE_DATABASES=$db

last_txn() {
	sqlite3 -init /dev/null -batch "$db" '.timeout 10000' \
		'SELECT max(txn) FROM commits;' 2>&1
}

# only the load writer may have the database open once create has returned
only_load_holds_db() {
	local holders
	holders=$(fuser "$db" 2>/dev/null | tr -s ' ' '\n' | sed '/^$/d' | sort -u)
	[ "$holders" = "$load_pid" ]
}

session_gone() { ! pgrep -f -- "$session session" >/dev/null; }

ids=()
for i in $(seq "$NSETS"); do
	sleep 0.5
	kill -0 "$load_pid" 2>/dev/null || fail "the load writer died before set $i: $(cat "$T/load.err")"
	id=$(create_set --label "sqlite-$i" --writers-dir "$T/writers.d" \
		--writer "$session" --writer "$probe" "$vol") ||
		fail "stillfs create of set $i failed"
	[ -n "$id" ] || fail "stillfs create printed no id for set $i"
	ids+=("$id")

	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	[ "$(jq -r .state <<<"$json")" = complete ] || fail "set $id is not complete: $json"
	[ "$(jq -r .consistency <<<"$json")" = application ] ||
		fail "set $id is not application-consistent: $json"
	[ "$(jq -r '.writers | length' <<<"$json")" = 2 ] || fail "set $id: not 2 writers: $json"
	w=$(jq -c '.writers[] | select(.name == "sqlite.session")' <<<"$json")
	[ -n "$w" ] || fail "set $id: no writer named sqlite.session: $json"
	[ "$(jq -r .kind <<<"$w")" = session ] || fail "set $id: sqlite.session is not a session: $w"
	for phase in prepare freeze thaw post; do
		[ "$(jq -r ".phases.$phase.result" <<<"$w")" = ok ] ||
			fail "set $id: sqlite.session $phase was not ok: $w"
	done
	[ "$(jq -r .phases.freeze.message <<<"$w")" = "locked 1 database" ] ||
		fail "set $id: unexpected freeze message: $w"
	[ "$(jq -r .phases.thaw.message <<<"$w")" = "released 1 database" ] ||
		fail "set $id: unexpected thaw message: $w"
	[ "$(jq -r '.phases.abort.result // "not-run"' <<<"$w")" = not-run ] ||
		fail "set $id: abort ran on a complete set: $w"
	log "set $id: sqlite.session: $(jq -r '[.phases | to_entries[] | "\(.key) \(.value.result) (\(.value.message))"] | join(", ")' <<<"$w")"

	p=$(jq -r '.writers[] | select(.name == "sqlite-lock-probe") | .phases.freeze' <<<"$json")
	[ "$(jq -r .result <<<"$p")" = ok ] || fail "set $id: the lock probe failed at freeze: $p"
	msg=$(jq -r .message <<<"$p")
	[[ $msg =~ ^locked\ at\ transaction\ ([0-9]+)$ ]] || fail "set $id: probe said '$msg'"
	probe_txn[i]=${BASH_REMATCH[1]}

	wait_for 10 session_gone
	wait_for 10 only_load_holds_db
done

# the locks were released: the load writer goes on committing
kill -0 "$load_pid" 2>/dev/null || fail "the load writer died during the sets: $(cat "$T/load.err")"
a=$(last_txn) || fail "cannot read the live database: $a"
deadline=$((SECONDS + 10))
until b=$(last_txn) && [ "$b" -gt "$a" ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "the load writer made no commit in 10 s after the sets (at $a)"
	sleep 0.2
done
log "the load writer goes on: transaction $a, then $b"
# stopped before the copies are checked: left running, it would grow the
# database for as long as the checks take
kill -TERM "$load_pid"
timeout 20 tail --pid="$load_pid" -f /dev/null || fail "the load writer did not stop on SIGTERM"
rc=0
wait "$load_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "the load writer exited $rc: $(cat "$T/load.err")"

prev=0
for i in $(seq "$NSETS"); do
	id=${ids[i - 1]}
	mnt=$T/view-$i
	mount_view "$mnt" --set "$id"
	[ -f "$mnt/db.sqlite" ] || fail "set $id: no db.sqlite in the view"
	mkdir "$T/copy"
	cp -a "$mnt/." "$T/copy/" || fail "set $id: cp -a out of the view failed"
	out=$("$checker" --rows-per-txn "$ROWS" "$T/copy/db.sqlite" 2>&1) ||
		fail "set $id: the copy does not pass the check: $out"
	[[ $out =~ ^consistent:\ ([0-9]+)\ commits\ \(transactions\ [0-9]+-([0-9]+)\) ]] ||
		fail "set $id: checker printed '$out'"
	commits=${BASH_REMATCH[1]}
	txn=${BASH_REMATCH[2]}
	[ "$commits" -gt "$prev" ] || fail "set $id: $commits commits, not more than the set before ($prev)"
	[ "$txn" = "${probe_txn[i]}" ] ||
		fail "set $id holds transactions up to $txn, but $((probe_txn[i])) had committed when the lock was probed: the database was not locked until the snapshot"
	log "set $id: $out"
	prev=$commits
	rm -rf "$T/copy"
	timeout 30 "$STILLFS" --catalog "$CATALOG" umount "$mnt" || fail "stillfs umount $mnt failed"
done

log "ok"
