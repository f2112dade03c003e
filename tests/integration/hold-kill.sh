#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Nothing stays frozen when stillfs dies. twovol runs in a test cgroup, and
# `stillfs create --hold` of its volume is killed with SIGKILL:
#
# - at the failpoint hold-frozen (the cgroup frozen, no snapshot yet), with a
#   hook writer frozen too: the guard thaws the cgroup within the hold
#   deadline (3 s) + 2 s, and runs the hook's thaw; then gc removes the
#   partial set (no set left, nothing in the storage);
# - at the failpoint writers-frozen (the hook frozen, before the hold): the
#   guard runs the hook's thaw; gc removes the partial set;
# - from outside while the hook's freeze runs: once the guard and the hook's
#   runs are gone, the hook is not left frozen (no freeze after the last
#   thaw);
# - from outside, at a random moment, several times, half of them aimed just
#   after the writers froze, while the held program has dirty data to sync:
#   nothing stays frozen, every hook freeze is followed by a thaw, the guard
#   goes away, and after gc every set left is complete with its snapshot and
#   the storage holds nothing else.
# After each kill twovol is counting again.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=cgroup.sh
. "$(dirname "$0")/cgroup.sh"

HOLD_TIMEOUT=3
GRACE=2        # how much longer than the hold deadline the thaw may take
HOOK_BOUND=15  # seconds for the guard to run a hook's thaw
NKILLS=8

require_root
require_cmd jq btrfs find pgrep

# --- test cgroups: one parent per test, thawed, emptied and removed at exit ---
cgroup_setup

cg_frozen() { grep -qx 'frozen 1' "$1/cgroup.events"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"

cg=$CG_TOP/app
mkdir "$cg"
run_in_cgroup "$cg" "$STILLFS_TEST_TOOLS/twovol" --ready "$T/ready" "$vol/a" "$vol/b"
twovol=$!
wait_for 10 test -e "$T/ready"

# counting: twovol's counter advances within a second
counting() {
	local n1 n2
	n1=$(cat "$vol/a")
	for _ in $(seq 10); do
		sleep 0.1
		n2=$(cat "$vol/a")
		[ "$n2" = "$n1" ] || return 0
	done
	return 1
}

# the hook writer: logs each phase as it starts, takes a little while for
# prepare and freeze, and logs "frozen" when its freeze has taken effect
hlog=$T/hook.log
hook=$T/hooks/slow-hook
mkdir "$T/hooks"
cat >"$hook" <<EOF
#!/bin/bash
echo "\$1" >>"$hlog"
case \$1 in
prepare) sleep 0.2 ;;
freeze)
	sleep 0.2
	echo frozen >>"$hlog"
	touch "$T/hook.frozen"
	;;
esac
echo "done \$1"
EOF
chmod +x "$hook"
nowriters=$T/no-writers # missing: no writers but the ones named

# guard_gone: no process of a stillfs run on this catalog is left (the guard
# is forked from stillfs, so it carries the same command line)
guard_gone() { ! pgrep -f -- "--catalog $CATALOG" >/dev/null; }

hook_gone() { ! pgrep -f -- "$hook" >/dev/null; }

# hook_left_frozen: whether, by the hook's log, something froze (a freeze
# started or took effect) after the last thaw
hook_left_frozen() {
	awk '$1 == "freeze" || $1 == "frozen" { f = 1 } $1 == "thaw" { f = 0 } END { exit !f }' "$hlog"
}

# after_kill WHAT T_DEAD: the checks that follow any kill of a create: the
# cgroup thaws within the deadline; once the guard and every run of the hook
# are gone, the hook is not left frozen; twovol counts again. T_DEAD is when
# the create died (ms).
after_kill() {
	local what=$1 t_dead=$2 bound t
	bound=$((t_dead + (HOLD_TIMEOUT + GRACE) * 1000))
	until cg_thawed "$cg"; do
		[ "$(now_ms)" -lt "$bound" ] ||
			fail "$what: $cg is still frozen $((HOLD_TIMEOUT + GRACE)) s after stillfs died: freeze $(cat "$cg/cgroup.freeze"), $(tr '\n' ' ' <"$cg/cgroup.events")"
		sleep 0.05
	done
	t=$(($(now_ms) - t_dead))
	wait_for "$HOOK_BOUND" guard_gone
	wait_for "$HOOK_BOUND" hook_gone
	if hook_left_frozen; then
		fail "$what: the hook is left frozen: it ran '$(tr '\n' ' ' <"$hlog")' (a freeze still running when stillfs died went on after the guard's thaw)"
	fi
	counting || fail "$what: twovol is not counting after the kill"
	log "$what: thawed $t ms after stillfs died; the hook ran '$(tr '\n' ' ' <"$hlog")'"
}

# check_after_gc WHAT: after gc no set is left but complete ones, each with
# its snapshot, and the storage holds nothing else.
check_after_gc() {
	local what=$1 json complete snaps extra
	timeout 120 "$STILLFS" --catalog "$CATALOG" gc 2>"$T/gc.err" || fail "$what: gc failed: $(cat "$T/gc.err")"
	json=$(stillfs list --json) || fail "$what: stillfs list failed"
	jq -e 'all(.[]; .state == "complete")' <<<"$json" >/dev/null ||
		fail "$what: after gc, sets not complete are left: $(jq -c '[.[] | {id, state}]' <<<"$json")"
	complete=$(jq -r '.[].volumes[0].snapshot' <<<"$json" | sort)
	for s in $complete; do
		[ -d "$s" ] || fail "$what: the snapshot $s of a complete set is gone"
	done
	snaps=$(find "$fs/.stillfs" -mindepth 2 -maxdepth 2 2>/dev/null | sort)
	[ "$snaps" = "$complete" ] || fail "$what: after gc the storage holds '$(tr '\n' ' ' <<<"$snaps")', the complete sets '$(tr '\n' ' ' <<<"$complete")'"
	extra=$(btrfs subvolume list "$fs" | awk '{ print $NF }' | grep -c '^\.stillfs/.*/' || true)
	[ "$extra" -eq "$(wc -w <<<"$complete")" ] ||
		fail "$what: $extra snapshot subvolumes for $(wc -w <<<"$complete") complete sets: $(btrfs subvolume list "$fs")"
	log "$what: gc said: $(tr '\n' ' ' <"$T/gc.err")"
}

# --- the failpoints ---
for fp in hold-frozen writers-frozen; do
	: >"$hlog"
	rc=0
	{ STILLFS_FAILPOINT=$fp timeout 60 "$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" \
		--writer "$hook" --hold "$cg" --hold-timeout "$HOLD_TIMEOUT" --label "$fp" "$vol" \
		>"$T/out" 2>"$T/err"; } 2>/dev/null || rc=$?
	t_dead=$(now_ms)
	[ "$rc" -eq 137 ] || fail "$fp: create exited $rc, not 137 (SIGKILL): $(cat "$T/out" "$T/err")"
	[ ! -s "$T/out" ] || fail "$fp: the killed create printed an id: $(cat "$T/out")"
	after_kill "$fp" "$t_dead"
	[ "$(tr '\n' ' ' <"$hlog")" = "prepare freeze frozen thaw " ] ||
		fail "$fp: the hook ran '$(tr '\n' ' ' <"$hlog")', not 'prepare freeze (frozen) thaw'"
	state=$(stillfs list --json | jq -r '.[] | .state' | tr '\n' ' ')
	[ "$state" = "creating " ] || fail "$fp: the crash left sets '$state', not one 'creating'"
	check_after_gc "$fp"
	[ "$(stillfs list --json | jq length)" = 0 ] || fail "$fp: gc left a set: $(stillfs list --json)"
done

# --- SIGKILL while the hook's freeze runs ---
: >"$hlog"
"$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" --writer "$hook" \
	--hold "$cg" --hold-timeout "$HOLD_TIMEOUT" --label during-freeze "$vol" >"$T/out" 2>"$T/err" &
pid=$!
track_pid "$pid"
wait_for 30 grep -qx freeze "$hlog"
kill -KILL "$pid"
{ wait "$pid"; } 2>/dev/null || true
after_kill "killed during the hook's freeze" "$(now_ms)"
check_after_gc "killed during the hook's freeze"

# --- SIGKILL from outside at a random moment ---
# Odd rounds kill at a random moment of the whole create (0-1.2 s); even
# rounds aim at the hold: a few milliseconds after the hook's freeze ended.
held=0
for i in $(seq "$NKILLS"); do
	: >"$hlog"
	rm -f "$T/hook.frozen"
	# dirty data for the hold's syncfs, written by the held program's cgroup
	(
		echo "$BASHPID" >"$cg/cgroup.procs"
		exec dd if=/dev/urandom of="$vol/dirty" bs=1M count=64 status=none
	) || fail "kill $i: cannot write $vol/dirty from $cg"
	"$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" --writer "$hook" \
		--hold "$cg" --hold-timeout "$HOLD_TIMEOUT" --label "kill-$i" "$vol" >"$T/out" 2>"$T/err" &
	pid=$!
	track_pid "$pid"
	if ((i % 2)); then
		delay_ms=$((RANDOM % 1200))
		when="$delay_ms ms after the start"
	else
		# bounded: the hook's freeze ends within a few seconds or never
		for _ in $(seq 5000); do
			if [ -e "$T/hook.frozen" ] || ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			sleep 0.001
		done
		delay_ms=$((RANDOM % 30))
		when="$delay_ms ms after the writers froze"
	fi
	sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
	frozen_at_kill=no
	if cg_frozen "$cg"; then
		frozen_at_kill=yes
		held=$((held + 1))
	fi
	kill -KILL "$pid" 2>/dev/null || true
	rc=0
	{ wait "$pid"; } 2>/dev/null || rc=$?
	t_dead=$(now_ms)
	what="kill $i, $when (exit $rc, cgroup frozen at the kill: $frozen_at_kill)"
	after_kill "$what" "$t_dead"
	check_after_gc "$what"
done
log "$held of $NKILLS kills found the cgroup frozen"

# a create after all that holds and completes
id=$(create_set --writers-dir "$nowriters" --hold "$cg" "$vol") || fail "a create after the kills failed"
[ "$(stillfs show --json "$id" | jq -r .state)" = complete ] || fail "set $id is not complete"
cg_thawed "$cg" || fail "$cg is frozen at the end"
kill -0 "$twovol" 2>/dev/null || fail "twovol died"
log "ok"
