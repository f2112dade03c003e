#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Writers that fail, veto, hang or die, and what stillfs makes of them. One
# writer of each kind, each in a set of its own, with a test cgroup held:
#
#   fail-freeze       a hook whose freeze exits 1
#   veto-prepare      a hook whose prepare exits 3 (veto)
#   hang-freeze       a hook whose freeze hangs (a child sleeping) past a
#                     1 s --freeze-timeout: SIGTERM ends it, child included
#   ignore-term       a hook whose freeze traps SIGTERM and goes on: SIGKILL
#                     ends it 2 s later
#   failing.session   a session writer that answers "fail" to freeze
#
# - by default each set is complete but 'crash'-consistent, with the writer's
#   result and message recorded per phase; thaw ran for every writer whose
#   freeze started (each writer logs its phases), and after it post; a vetoed
#   writer is not frozen; the deadlines hold (the create ends in time); the
#   held cgroup is not frozen afterwards;
# - with --require-writers a writer that does its job gives an
#   'application'-consistent set, and each failing writer makes the set
#   'failed', with a reason that names it, thaw (if its freeze started) and
#   abort instead of post, and no snapshot left;
# - a writer path that is missing or not executable is refused before
#   anything is made (exit 1, one line that names it, not even a catalog).
#
# Every case runs; the test fails at the end listing each one that did not
# behave.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=cgroup.sh
. "$(dirname "$0")/cgroup.sh"

FREEZE_TIMEOUT=1
KILL_GRACE=2 # SIGTERM, then SIGKILL this much later
CREATE_BOUND=20 # seconds any one create here may take

require_root
require_cmd jq btrfs find

# --- test cgroups: one parent per test, thawed, emptied and removed at exit ---
# kill_hook_children, run by the exit trap: ends what the hanging hooks left
# running, if stillfs did not end it
kill_hook_children() {
	local p
	for p in "$T"/*.child; do
		[ -e "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null
	done
}
cgroup_exit_hook kill_hook_children
cgroup_setup

make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"
echo data >"$vol/file"

# --- the writers; each appends "NAME phase PHASE" (and what else it sees) to $wlog ---
wlog=$T/writers.log
hooks=$T/hooks
mkdir "$hooks"
# make_hook NAME CASES: a hook that logs its phase, then runs the case
# statement body CASES (bash) and otherwise says "done PHASE" and exits 0.
make_hook() {
	cat >"$hooks/$1" <<EOF
#!/bin/bash
echo "$1 phase \$1" >>"$wlog"
case \$1 in
$2
esac
echo "done \$1"
EOF
	chmod +x "$hooks/$1"
}
make_hook fail-freeze '
freeze)
	echo "flushing"
	echo "cannot flush: disk on fire"
	exit 1
	;;'
make_hook veto-prepare '
prepare)
	echo "not now: backup window closed"
	exit 3
	;;'
# the sleep is a child, not exec'd: it holds the hook's output open
make_hook hang-freeze "
freeze)
	echo 'flushing forever'
	sleep 30 &
	echo \$! >'$T/hang-freeze.child'
	wait
	echo 'woke up'
	;;"
make_hook ignore-term "
freeze)
	trap 'echo \"ignore-term signal TERM\" >>\"$wlog\"' TERM
	echo \$\$ >'$T/ignore-term.pid'
	echo 'not listening'
	for _ in \$(seq 300); do sleep 0.1; done
	echo 'still here'
	;;"
make_hook good ''
cat >"$hooks/failing.session" <<EOF
#!/bin/bash
# a session: one phase a line in, one answer a line out
[ "\$1" = session ] || { echo "started as '\$*', not 'session'" >>"$wlog"; exit 1; }
while IFS= read -r p; do
	echo "failing.session phase \$p" >>"$wlog"
	case \$p in
	freeze) echo "fail cannot lock tables" ;;
	*) echo "ok \$p done" ;;
	esac
done
echo "failing.session eof" >>"$wlog"
EOF
chmod +x "$hooks/failing.session"
echo '#!/bin/sh' >"$hooks/not-executable"
chmod 0644 "$hooks/not-executable"
nowriters=$T/no-writers # missing: no writers but the ones named

# --- refused before anything is made: not even the catalog ---
for w in "$hooks/not-executable" "$hooks/missing"; do
	rc=0
	timeout 30 "$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" --writer "$w" "$vol" \
		>"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -eq 1 ] || problem "--writer $w: exit $rc, not 1"
	[ ! -s "$T/out" ] || problem "--writer $w: printed '$(cat "$T/out")' on stdout"
	[ "$(wc -l <"$T/err")" -eq 1 ] || problem "--writer $w: not one line on stderr: $(cat "$T/err")"
	grep -qF "$w" "$T/err" || problem "--writer $w: the message does not name it: $(cat "$T/err")"
	[ ! -e "$CATALOG" ] || problem "--writer $w: the catalog was made"
	[ ! -e "$fs/.stillfs" ] || problem "--writer $w: the storage directory was made"
	log "--writer $w: exit $rc: $(cat "$T/err")"
done

cg=$CG_TOP/app
mkdir "$cg"
run_in_cgroup "$cg" sleep 600
app=$!

# the storage directory and the subvolumes, to see that a failed set leaves nothing
base=$(create_set --writers-dir "$nowriters" --label base "$vol") || fail "the baseline create failed"
storage=$(stillfs show --json "$base" | jq -er '.volumes[0].storage') || fail "no storage in set $base"
storage_rel=${storage#"$fs"/}
stored() { find "$storage" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort; }
subvols() { btrfs subvolume list "$fs" | awk '{ print $NF }' | sort; }

# phase JSON PHASE: the writer's record of PHASE as "result<TAB>message<TAB>duration_ns"
phase() {
	jq -r --arg p "$2" '.writers[0].phases
		| (if type == "array" then (map(select(.phase == $p)) | .[0]) else .[$p] end)
		| "\(.result)\t\(.message)\t\(.duration_ns)"' <<<"$1"
}
# phases NAME: the phases the writer NAME logged, space-separated
phases() { awk -v n="$1" '$1 == n && $2 == "phase" { printf "%s ", $3 }' "$wlog"; }
now_ns() { date +%s%N; }
# alive PID: the process exists and is not a zombie (an orphan that died may
# wait a while for init to reap it)
alive() { awk '/^State:/ { exit $2 == "Z" }' "/proc/$1/status" 2>/dev/null; }

# check_phase WHAT JSON PHASE RESULT [MESSAGE]: records a problem unless the
# writer's PHASE has RESULT (and MESSAGE, when given).
check_phase() {
	local what=$1 json=$2 p=$3 want=$4 msg=${5-} got result message
	got=$(phase "$json" "$p")
	IFS=$'\t' read -r result message _ <<<"$got"
	[ "$result" = "$want" ] || problem "$what: $p is '$result', not '$want' (message '$message')"
	[ -z "$msg" ] || [ "$message" = "$msg" ] || problem "$what: $p says '$message', not '$msg'"
}

# --- each kind of failure, in a set that is kept ---
for w in fail-freeze veto-prepare hang-freeze ignore-term failing.session; do
	: >"$wlog"
	rm -f "$T/$w.child" "$T/$w.pid"
	t0=$(now_ns)
	rc=0
	timeout 120 "$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" \
		--writer "$hooks/$w" --hold "$cg" --freeze-timeout "$FREEZE_TIMEOUT" --label "$w" "$vol" \
		>"$T/out" 2>"$T/err" || rc=$?
	elapsed=$((($(now_ns) - t0) / 1000000))
	what="$w (kept)"
	log "$what: exit $rc after $elapsed ms; stderr: $(tr '\n' ' ' <"$T/err")"
	[ "$elapsed" -lt $((CREATE_BOUND * 1000)) ] || problem "$what: the create took $elapsed ms"
	cg_thawed "$cg" || problem "$what: $cg is left frozen ($(tr '\n' ' ' <"$cg/cgroup.events"))"
	kill -0 "$app" 2>/dev/null || fail "the held sleep died"
	if [ "$rc" -ne 0 ]; then
		problem "$what: create exited $rc: $(cat "$T/err")"
		continue
	fi
	id=$(cat "$T/out")
	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	log "$what: set $id: $(jq -c '{state, consistency, hold_ns, writers}' <<<"$json")"
	[ "$(jq -r .state <<<"$json")" = complete ] || problem "$what: set $id is not complete"
	[ "$(jq -r .consistency <<<"$json")" = crash ] || problem "$what: set $id is not crash-consistent"
	[[ $(jq -r .hold_ns <<<"$json") =~ ^[0-9]+$ ]] || problem "$what: set $id reports no hold"
	[ "$(jq -r '.writers[0].name' <<<"$json")" = "$w" ] || problem "$what: the writer is not named '$w'"
	kind=hook
	[[ $w != *.session ]] || kind=session
	[ "$(jq -r '.writers[0].kind' <<<"$json")" = "$kind" ] || problem "$what: the writer is not a $kind"
	snap=$(snapshot_path "$id") || problem "$what: set $id has no snapshot"
	[ -z "$snap" ] || cmp -s "$snap/file" "$vol/file" || problem "$what: the snapshot is not of the volume"
	logged=$(phases "$w")
	case $w in
	fail-freeze)
		check_phase "$what" "$json" prepare ok
		check_phase "$what" "$json" freeze failed "cannot flush: disk on fire"
		check_phase "$what" "$json" thaw ok
		check_phase "$what" "$json" post ok
		[ "$logged" = "prepare freeze thaw post " ] || problem "$what: the hook ran '$logged'"
		;;
	veto-prepare)
		check_phase "$what" "$json" prepare vetoed "not now: backup window closed"
		r=$(phase "$json" freeze | cut -f1)
		[ "$r" = not-run ] || [ "$r" = null ] || problem "$what: freeze of a vetoed writer is '$r'"
		[[ $logged == prepare* ]] || problem "$what: the hook ran '$logged'"
		[[ $logged != *freeze* ]] || problem "$what: a writer that vetoed was frozen: it ran '$logged'"
		;;
	hang-freeze | ignore-term)
		check_phase "$what" "$json" prepare ok
		check_phase "$what" "$json" freeze timed-out
		check_phase "$what" "$json" thaw ok
		check_phase "$what" "$json" post ok
		[ "$logged" = "prepare freeze thaw post " ] || problem "$what: the hook ran '$logged'"
		d=$(phase "$json" freeze | cut -f3)
		least=$FREEZE_TIMEOUT
		[ "$w" = hang-freeze ] || least=$((FREEZE_TIMEOUT + KILL_GRACE))
		if ! [[ $d =~ ^[0-9]+$ ]]; then
			problem "$what: freeze duration '$d'"
		elif ((d < least * 1000000000 - 100000000 || d > (FREEZE_TIMEOUT + KILL_GRACE + 3) * 1000000000)); then
			problem "$what: freeze lasted $d ns (expected ${least} s, at most $((FREEZE_TIMEOUT + KILL_GRACE)) s and a little)"
		fi
		if [ "$w" = ignore-term ]; then
			grep -qx 'ignore-term signal TERM' "$wlog" || problem "$what: the hook was not sent SIGTERM first"
			if [ -e "$T/ignore-term.pid" ] && alive "$(cat "$T/ignore-term.pid")"; then
				problem "$what: the hook that ignored SIGTERM is still running"
			fi
		elif [ -e "$T/hang-freeze.child" ]; then
			child=$(cat "$T/hang-freeze.child")
			if alive "$child"; then
				problem "$what: the hook's child $child outlived the hook (its process group was not killed)"
			fi
		fi
		;;
	failing.session)
		check_phase "$what" "$json" prepare ok
		check_phase "$what" "$json" freeze failed "cannot lock tables"
		check_phase "$what" "$json" thaw ok
		check_phase "$what" "$json" post ok
		[ "$logged" = "prepare freeze thaw post " ] || problem "$what: the session was told '$logged'"
		for _ in $(seq 100); do
			grep -qx 'failing.session eof' "$wlog" && break
			sleep 0.1
		done
		grep -qx 'failing.session eof' "$wlog" || problem "$what: the session did not see its input close"
		;;
	esac
done

# --- a writer that does its job, with --require-writers: application-consistent ---
: >"$wlog"
what="good (required)"
rc=0
timeout 120 "$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" --require-writers \
	--writer "$hooks/good" --hold "$cg" --freeze-timeout "$FREEZE_TIMEOUT" --label good "$vol" \
	>"$T/out" 2>"$T/err" || rc=$?
log "$what: exit $rc; stderr: $(tr '\n' ' ' <"$T/err")"
if [ "$rc" -ne 0 ]; then
	problem "$what: a writer that did everything asked failed the set: exit $rc: $(cat "$T/err")"
else
	id=$(cat "$T/out")
	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	[ "$(jq -r .state <<<"$json")" = complete ] || problem "$what: set $id is not complete"
	[ "$(jq -r .consistency <<<"$json")" = application ] || problem "$what: set $id is not application-consistent"
	for p in prepare freeze thaw post; do
		check_phase "$what" "$json" "$p" ok "done $p"
	done
fi
[ "$(phases good)" = "prepare freeze thaw post " ] || problem "$what: the hook ran '$(phases good)'"
cg_thawed "$cg" || problem "$what: $cg is left frozen"

# --- the same writers with --require-writers: the set fails and leaves nothing ---
for w in fail-freeze veto-prepare hang-freeze ignore-term failing.session; do
	: >"$wlog"
	rm -f "$T/$w.child" "$T/$w.pid"
	before_sets=$(stillfs list --json | jq -r '.[].id' | sort)
	before_stored=$(stored)
	before_subvols=$(subvols)
	t0=$(now_ns)
	rc=0
	timeout 120 "$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" --require-writers \
		--writer "$hooks/$w" --hold "$cg" --freeze-timeout "$FREEZE_TIMEOUT" --label "$w-required" "$vol" \
		>"$T/out" 2>"$T/err" || rc=$?
	elapsed=$((($(now_ns) - t0) / 1000000))
	what="$w (required)"
	log "$what: exit $rc after $elapsed ms; stderr: $(tr '\n' ' ' <"$T/err")"
	[ "$rc" -eq 1 ] || problem "$what: create exited $rc, not 1"
	[ ! -s "$T/out" ] || problem "$what: create printed '$(cat "$T/out")'"
	[ "$elapsed" -lt $((CREATE_BOUND * 1000)) ] || problem "$what: the create took $elapsed ms"
	grep -qF "$w" "$T/err" || problem "$what: the error does not name the writer: $(cat "$T/err")"
	cg_thawed "$cg" || problem "$what: $cg is left frozen ($(tr '\n' ' ' <"$cg/cgroup.events"))"
	new=$(comm -13 <(echo "$before_sets") <(stillfs list --json | jq -r '.[].id' | sort))
	if [ "$(wc -w <<<"$new")" -ne 1 ]; then
		problem "$what: expected one new (failed) set record, got '$new'"
	else
		json=$(stillfs show --json "$new") || fail "stillfs show --json $new failed"
		log "$what: set $new: $(jq -c '{state, reason, consistency, writers}' <<<"$json")"
		[ "$(jq -r .state <<<"$json")" = failed ] || problem "$what: set $new is '$(jq -r .state <<<"$json")', not failed"
		jq -e --arg w "$w" '.reason // "" | contains($w)' <<<"$json" >/dev/null ||
			problem "$what: the reason '$(jq -r .reason <<<"$json")' does not name the writer"
		# the path may stay recorded (it is written before the snapshot is
		# taken); the snapshot itself must not exist
		while read -r s; do
			[ ! -e "$s" ] || problem "$what: the failed set's snapshot $s exists"
		done < <(jq -r '.volumes[].snapshot // empty' <<<"$json")
		jq -e '[.volumes[].snapshot_uuid] | all(. == null)' <<<"$json" >/dev/null ||
			problem "$what: the failed set records a snapshot uuid"
		case $w in
		veto-prepare) check_phase "$what" "$json" prepare vetoed "not now: backup window closed" ;;
		fail-freeze) check_phase "$what" "$json" freeze failed "cannot flush: disk on fire" ;;
		failing.session) check_phase "$what" "$json" freeze failed "cannot lock tables" ;;
		*) check_phase "$what" "$json" freeze timed-out ;;
		esac
	fi
	[ "$(stored)" = "$before_stored" ] || problem "$what: the storage holds '$(stored | tr '\n' ' ')', was '$(tr '\n' ' ' <<<"$before_stored")'"
	[ "$(subvols)" = "$before_subvols" ] || problem "$what: subvolumes are '$(subvols | tr '\n' ' ')', were '$(tr '\n' ' ' <<<"$before_subvols")'"
	logged=$(phases "$w")
	case $w in
	veto-prepare)
		[[ $logged == prepare* ]] || problem "$what: the hook ran '$logged'"
		[[ $logged != *freeze* && $logged != *post* ]] || problem "$what: the hook ran '$logged' after vetoing"
		;;
	*)
		[ "$logged" = "prepare freeze thaw abort " ] || problem "$what: the writer ran '$logged', not 'prepare freeze thaw abort'"
		;;
	esac
done
# only the baseline and the kept sets' snapshots are left
n_complete=$(stillfs list --json | jq '[.[] | select(.state == "complete")] | length')
[ "$(stored | wc -l)" -eq "$n_complete" ] || problem "the storage holds $(stored | wc -l) entries for $n_complete complete sets: $(stored | tr '\n' ' ')"
[ "$(subvols | grep -cF "$storage_rel/")" -eq "$n_complete" ] ||
	problem "$(subvols | grep -cF "$storage_rel/") snapshot subvolumes for $n_complete complete sets"
cg_thawed "$cg" || problem "$cg is frozen at the end"

if [ "${#problems[@]}" -gt 0 ]; then
	fail "${#problems[@]} problem(s): $(printf '%s; ' "${problems[@]}")"
fi
log "ok"
