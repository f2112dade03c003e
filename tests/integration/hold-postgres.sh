#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# A PostgreSQL 15 server with its data directory and its WAL on two volumes,
# busy with pgbench, its processes in a cgroup of their own. Sets
# of both volumes taken with --hold on that cgroup and the postgresql writer
# must each restore to a server that starts, recovers, and holds exactly
# pgbench's invariant: sum(abalance) = sum(tbalance) = sum(bbalance) =
# sum(delta), with more transactions in each set than in the one before.
# Without the hold, the two snapshots are milliseconds apart, and the data
# directory can be ahead of the WAL that should describe it; a control set
# made so on purpose must fail the same checks.
#
# The volumes are two btrfs subvolumes; with PG_PROVIDER=copy
# (copy-postgres.sh), two directories on two separate ext4 filesystems,
# copied by the copy provider into storage on a third ext4. There the second
# set freezes the two filesystems (--freeze-fs) instead of holding the
# cgroup, and the third does both.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=cgroup.sh
. "$(dirname "$0")/cgroup.sh"
PROVIDER=${PG_PROVIDER:-btrfs}

NSETS=3
PORT=5433      # the live server, on a socket in $T/sock
COPY_PORT=5434 # a server on a set's copy, in $T/sock2

require_root
require_cmd jq setpriv runuser
[ "$PROVIDER" = btrfs ] || [ "$PROVIDER" = copy ] || fail "PG_PROVIDER must be btrfs or copy, not '$PROVIDER'"
[ "$PROVIDER" != copy ] || require_cmd mkfs.ext4
: "${STILLFS_SOURCE_ROOT:?STILLFS_SOURCE_ROOT must name the source tree}"
pg_writer=$STILLFS_SOURCE_ROOT/tools/writers/postgresql
[ -x "$pg_writer" ] || fail "$pg_writer is missing or not executable"

PGBIN=/usr/lib/postgresql/15/bin
for p in initdb pg_ctl postgres psql pgbench; do
	[ -x "$PGBIN/$p" ] || skip "needs PostgreSQL 15 ($PGBIN/$p; Debian packages postgresql-15 and postgresql-client-15)"
done
id postgres >/dev/null 2>&1 || skip "needs the postgres system user (made by the postgresql-common package)"

# as_pg COMMAND...: runs as the postgres user (in the same process, so that
# $! of a background as_pg is the command's pid); setpriv, not runuser, so
# that no PAM session moves the server out of its cgroup
as_pg() {
	(cd / && exec env HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres \
		--init-groups -- "$@")
}

data_live=''
data_copy=''

# stop_server DATADIR: stops a server that runs on DATADIR, if one does.
stop_server() {
	[ -n "$1" ] && [ -f "$1/postmaster.pid" ] || return 0
	timeout 60 env HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups -- \
		"$PGBIN/pg_ctl" -D "$1" -m immediate -w -t 30 stop >/dev/null 2>&1
}

# stop_servers, run by the exit trap once the cgroup is thawed (a server left
# frozen could not stop): the servers stop before their cgroup is killed and
# their filesystems are unmounted.
stop_servers() {
	local p
	for p in "${_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	stop_server "$data_copy"
	stop_server "$data_live"
}
cgroup_exit_hook stop_servers
cgroup_setup
[ -w "$CG_ROOT/cgroup.procs" ] || skip "cannot move processes in $CG_ROOT"

# the postgres user must reach its directories beneath $T
chmod 0711 "$T"

# the options of every stillfs create
provider=()
if [ "$PROVIDER" = copy ]; then
	# directories, not the roots, which hold lost+found (initdb wants an
	# empty directory)
	data=$(make_fs ext4 fsd 2G)/data
	wal=$(make_fs ext4 fsw 2G)/wal
	mkdir "$data" "$wal"
	storage=$(make_fs ext4 sto 4G)/copies
	provider=(--provider copy --storage "$storage")
	# the copies restored from the sets
	work=$(make_fs ext4 work 4G)
else
	fs=$(make_btrfs fs 4G)
	data=$fs/data
	wal=$fs/wal
	make_subvolume "$data"
	make_subvolume "$wal"
	# the copies restored from the sets
	work=$(make_btrfs work 4G)
fi
chown postgres:postgres "$data" "$wal"
chmod 0700 "$data" "$wal"
# the volumes' paths as the catalog records them
data_real=$(realpath "$data")
wal_real=$(realpath "$wal")
mkdir -m 0700 "$T/sock" "$T/sock2" "$T/log"
chown postgres:postgres "$T/sock" "$T/sock2" "$T/log" "$work"
mkdir "$T/writers.d" # no writer of this machine takes part

cg=$CG_TOP/postgres
mkdir "$cg"

as_pg "$PGBIN/initdb" -D "$data" --waldir "$wal" -A trust -U postgres -E UTF8 --locale C \
	>"$T/log/initdb.log" 2>&1 || fail "initdb failed: $(tail -n 5 "$T/log/initdb.log")"
cat >>"$data/postgresql.conf" <<EOF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$T/sock'
max_wal_size = 256MB
min_wal_size = 32MB
# smaller than the tables: backends write pages out all the time, so the
# data files change during the load, not only at checkpoints
shared_buffers = 16MB
EOF

# The server is started by a shell that first joins the cgroup, so that the
# postmaster and every backend it forks are in it.
data_live=$data
sh -c 'echo $$ >"$1/cgroup.procs" || exit 1; shift
	cd / && exec env HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"' \
	_ "$cg" "$PGBIN/pg_ctl" -D "$data" -l "$T/log/live.log" -w -t 60 start >/dev/null ||
	fail "the server did not start: $(tail -n 5 "$T/log/live.log")"
postmaster=$(head -n 1 "$data/postmaster.pid")
grep -qx "$postmaster" "$cg/cgroup.procs" || fail "the postmaster ($postmaster) is not in $cg"

# The test's own clients find the live server through live(); the writer,
# through its configuration file, the way an administrator sets it up.
live() { PGHOST=$T/sock PGPORT=$PORT as_pg "$@"; }
unset PGHOST PGPORT PGUSER PGDATABASE PGSERVICE
export STILLFS_POSTGRESQL_ENV=$T/postgresql.env
printf 'PGHOST=%s\nPGPORT=%s\n' "$T/sock" "$PORT" >"$STILLFS_POSTGRESQL_ENV"
live "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE bench' postgres >/dev/null ||
	fail "cannot create the bench database"
live "$PGBIN/pgbench" -i -s 2 -q bench >"$T/log/pgbench-init.log" 2>&1 ||
	fail "pgbench -i failed: $(tail -n 5 "$T/log/pgbench-init.log")"

# the load: clients outside the held cgroup, waiting on their sockets during the hold
# (one process, so that $! is pgbench itself)
(cd / && exec env PGHOST="$T/sock" PGPORT="$PORT" HOME=/var/lib/postgresql \
	setpriv --reuid=postgres --regid=postgres --init-groups -- \
	"$PGBIN/pgbench" -n -c 4 -j 2 -T 600 bench) >"$T/log/pgbench.log" 2>&1 &
bench_pid=$!
track_pid "$bench_pid"
sleep 3
kill -0 "$bench_pid" 2>/dev/null || fail "pgbench stopped: $(tail -n 5 "$T/log/pgbench.log")"
[ "$(cat "/proc/$bench_pid/comm")" = pgbench ] || fail "pid $bench_pid is not pgbench"

# pg_invariant PORT SOCKETDIR: prints "accounts tellers branches history count"
pg_invariant() {
	PGHOST=$2 PGPORT=$1 as_pg "$PGBIN/psql" -X -A -t -F ' ' -v ON_ERROR_STOP=1 -d bench -c \
		'SELECT (SELECT sum(abalance) FROM pgbench_accounts),
			(SELECT sum(tbalance) FROM pgbench_tellers),
			(SELECT sum(bbalance) FROM pgbench_branches),
			(SELECT coalesce(sum(delta), 0) FROM pgbench_history),
			(SELECT count(*) FROM pgbench_history)'
}

ids=()
for i in $(seq "$NSETS"); do
	sleep 3
	kill -0 "$bench_pid" 2>/dev/null || fail "pgbench stopped before set $i: $(tail -n 5 "$T/log/pgbench.log")"
	# how the set holds the server: its cgroup, its filesystems, or both
	hold=(--hold "$cg")
	held_cgroups=("$cg")
	frozen=()
	if [ "$PROVIDER" = copy ] && [ "$i" -ge 2 ]; then
		frozen=("$(dirname "$wal_real")" "$(dirname "$data_real")")
		hold=(--freeze-fs)
		held_cgroups=()
		if [ "$i" -ge 3 ]; then
			hold+=(--hold "$cg")
			held_cgroups=("$cg")
		fi
	fi
	id=$(create_set --label "pg-$i" "${provider[@]}" --writers-dir "$T/writers.d" "${hold[@]}" \
		--writer "$pg_writer" "$wal" "$data") || fail "stillfs create of set $i failed"
	[ -n "$id" ] || fail "stillfs create printed no id for set $i"
	ids+=("$id")

	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	[ "$(jq -r .state <<<"$json")" = complete ] || fail "set $id is not complete: $json"
	[ "$(jq -r .consistency <<<"$json")" = application ] ||
		fail "set $id is not application-consistent: $json"
	jq -e '.hold_ns | type == "number" and . > 0' <<<"$json" >/dev/null ||
		fail "set $id: no hold was recorded: $json"
	jq -e --args '.holds == $ARGS.positional' "${held_cgroups[@]}" <<<"$json" >/dev/null ||
		fail "set $id: the held cgroups are not recorded as (${held_cgroups[*]}): $json"
	jq -e --args '.frozen_filesystems == $ARGS.positional' "${frozen[@]}" <<<"$json" >/dev/null ||
		fail "set $id: the frozen filesystems are not recorded as (${frozen[*]}): $json"
	jq -e --arg p "$PROVIDER" '[.volumes[].provider] == [$p, $p]' <<<"$json" >/dev/null ||
		fail "set $id: the volumes were not made by the $PROVIDER provider: $json"
	jq -e '[.volumes[].inconsistent | length] == [0, 0]' <<<"$json" >/dev/null ||
		fail "set $id: files kept changing while copied, in a hold: $json"
	w=$(jq -c '.writers[] | select(.name == "postgresql")' <<<"$json")
	[ -n "$w" ] || fail "set $id: no writer named postgresql: $json"
	[ "$(jq -r .kind <<<"$w")" = hook ] || fail "set $id: the postgresql writer is not a hook: $w"
	for phase in prepare freeze thaw post; do
		[ "$(jq -r ".phases.$phase.result" <<<"$w")" = ok ] ||
			fail "set $id: postgresql $phase was not ok: $w"
	done
	[[ $(jq -r .phases.prepare.message <<<"$w") == "CHECKPOINT done in "* ]] ||
		fail "set $id: the prepare did not checkpoint: $w"
	log "set $id (${hold[*]}): hold $(jq -r '.hold_ns / 1e6' <<<"$json") ms; prepare: $(jq -r .phases.prepare.message <<<"$w")"
	# the hold ended: the server goes on
	grep -qx 'frozen 0' "$cg/cgroup.events" || fail "set $id: $cg is still frozen"
done
kill -0 "$bench_pid" 2>/dev/null || fail "pgbench stopped during the sets: $(tail -n 5 "$T/log/pgbench.log")"
live "$PGBIN/psql" -X -q -c 'SELECT 1' bench >/dev/null || fail "the live server does not answer after the sets"

# The control: the WAL, then a checkpoint, then the data directory, each in a
# set of its own, without the hold, as when volumes are copied one after the
# other. The checks below must find that copy broken, or they could not tell
# a set of one instant from one that is not. (A data directory taken 2 s
# after its WAL, with no checkpoint between, passed them in trials: the gap
# is made a checkpoint wide so that the control is certain.)
cid_wal=$(create_set --label control-wal "${provider[@]}" --writers-dir "$T/writers.d" "$wal") ||
	fail "stillfs create of the control's WAL failed"
live "$PGBIN/psql" -X -q -c CHECKPOINT bench >/dev/null || fail "CHECKPOINT on the live server failed"
cid_data=$(create_set --label control-data "${provider[@]}" --writers-dir "$T/writers.d" "$data") ||
	fail "stillfs create of the control's data failed"
kill -0 "$bench_pid" 2>/dev/null || fail "pgbench stopped during the control: $(tail -n 5 "$T/log/pgbench.log")"

view=$T/view
mount_view "$view"

# volume_dir ID PATH: the directory of the volume PATH of set ID in the view.
volume_dir() {
	local json token name
	json=$(stillfs show --json "$1") || fail "stillfs show --json $1 failed"
	token=$(jq -er .token <<<"$json") || fail "set $1 has no token: $json"
	name=$(jq -er --arg p "$2" '.volumes[] | select(.path == $p) | .name' <<<"$json") ||
		fail "set $1 has no volume $2: $json"
	[ -d "$view/$token/$name" ] || fail "set $1: no $view/$token/$name"
	printf '%s\n' "$view/$token/$name"
}

# restore COPY DATA_SET WAL_SET: copies the data directory of DATA_SET and the
# WAL of WAL_SET out of the view into COPY/data and COPY/wal, ready to start.
restore() {
	local copy=$1 d w
	d=$(volume_dir "$2" "$data_real") || exit 1
	w=$(volume_dir "$3" "$wal_real") || exit 1
	mkdir -m 0700 "$copy"
	cp -a "$d" "$copy/data" || fail "set $2: cp -a of the data directory out of the view failed"
	cp -a "$w" "$copy/wal" || fail "set $3: cp -a of the WAL out of the view failed"
	chown postgres:postgres "$copy"
	[ -L "$copy/data/pg_wal" ] || fail "set $2: the copied pg_wal is not a symlink"
	rm "$copy/data/pg_wal"
	ln -s "$copy/wal" "$copy/data/pg_wal"
	chown -h postgres:postgres "$copy/data/pg_wal"
	# the lock file names the live postmaster, which still runs
	rm -f "$copy/data/postmaster.pid"
}

# check_copy COPY NAME: starts a server on COPY, lets it recover and checks
# pgbench's invariant (and pg_amcheck's, where installed), then stops it.
# Sets `broken` to what is wrong (empty when nothing is) and `ntx` to the
# number of pgbench transactions the copy holds.
check_copy() {
	local copy=$1 name=$2 log=$T/log/$2.log out acc tel bra hist
	broken=''
	ntx=0
	data_copy=$copy/data
	if ! as_pg "$PGBIN/pg_ctl" -D "$copy/data" -l "$log" -w -t 120 \
		-o "-p $COPY_PORT -k $T/sock2" start >/dev/null 2>&1; then
		broken="the server on the copy did not start: $(grep -E 'FATAL|PANIC|ERROR' "$log" | tail -n 3 | tr '\n' ' ')"
	else
		grep -q 'redo starts' "$log" || log "$name: no WAL was replayed"
		if ! out=$(pg_invariant "$COPY_PORT" "$T/sock2" 2>&1); then
			broken="cannot query the copy: $out"
		else
			read -r acc tel bra hist ntx <<<"$out"
			log "$name: accounts $acc, tellers $tel, branches $bra, history $hist in $ntx transactions"
			if [ "$acc" != "$tel" ] || [ "$tel" != "$bra" ] || [ "$bra" != "$hist" ]; then
				broken="pgbench's invariant does not hold: accounts $acc, tellers $tel, branches $bra, history $hist"
			elif [ -x "$PGBIN/pg_amcheck" ] && ! out=$(PGHOST=$T/sock2 PGPORT=$COPY_PORT \
				as_pg "$PGBIN/pg_amcheck" --install-missing bench 2>&1); then
				broken="pg_amcheck: $out"
			fi
		fi
	fi
	stop_server "$copy/data"
	[ ! -f "$copy/data/postmaster.pid" ] || fail "$name: the server on the copy did not stop"
	data_copy=''
	rm -rf "$copy"
}

prev=0
for i in $(seq "$NSETS"); do
	id=${ids[i - 1]}
	restore "$work/set-$i" "$id" "$id"
	check_copy "$work/set-$i" "set-$i"
	[ -z "$broken" ] || fail "set $id: $broken"
	[ "$ntx" -gt "$prev" ] || fail "set $id: $ntx transactions, not more than the set before ($prev)"
	prev=$ntx
done

restore "$work/control" "$cid_data" "$cid_wal"
check_copy "$work/control" control
[ -n "$broken" ] ||
	fail "control: a copy whose data directory is a checkpoint ahead of its WAL passed every check"
log "control, as expected: $broken"

# a background job ignores SIGINT
kill -TERM "$bench_pid"
timeout 30 tail --pid="$bench_pid" -f /dev/null || fail "pgbench did not stop"
as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null || fail "the live server did not stop"
data_live=''
log "ok"
