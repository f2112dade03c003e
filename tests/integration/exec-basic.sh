#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2016 # the bash -c and sh -c scripts expand their own variables
# stillfs exec, pin and unpin.
#
# - exec of a command over two volumes, with no view mounted yet: it creates
#   the mount point and mounts the view there; the command runs with
#   STILLFS_SET (the set's id: complete, with the label given) and
#   STILLFS_ROOT (MOUNTPOINT/current), and sees there one directory per volume
#   holding the snapshot, not the live volume, which it changes itself before
#   reading; --writer is run for every phase; its standard output is
#   exec's; 'stillfs delete' of the set is refused while the command runs.
#   Afterwards the set and its snapshots are gone, current/ is empty, and the
#   view stays mounted (the next exec uses the same mount).
# - the command's exit status is exec's: 0, 3, and 128+N for a command that
#   kills itself with signal N.
# - exec that cannot make its set (btrfs asked for a directory that is no
#   subvolume) fails and runs nothing.
# - --keep leaves the set, complete and unpinned; gc keeps it (its lease ended
#   with exec, it was not abandoned); delete then removes it.
# - pin and unpin by hand: pin shows the set in current/ as soon as it
#   returns, current/'s mtime is the time of the pin; pin of another set (by
#   its @GMT name) switches at once, content, new and gone names, even what
#   the kernel had cached; a pinned set cannot be deleted; pin of an unknown
#   set fails and changes nothing; unpin empties current/.
# - SIGTERM and SIGINT sent to exec reach the command (a sleep, which dies of
#   them: exec exits 143 and 130) and SIGHUP a command that traps it (its exit
#   status is exec's); each time the set is removed and current/ emptied.
# - exec killed with SIGKILL while its command runs: a gc while exec was
#   alive kept the set; after the kill the set is still there, and the next
#   gc removes it, its snapshot and its pin.
# - exec --passthrough with a view already mounted says that the view stays
#   as mounted; with none, it mounts one with --passthrough, and (where the
#   kernel offers passthrough) a cold read of 16 MiB through it is not read
#   by the view's daemon but matches the file. pin --passthrough mounts its
#   view the same way; unpin refuses the option.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd jq btrfs cmp diff findmnt
[ -e /dev/fuse ] || skip "no /dev/fuse"

# not in $(...): make_btrfs must record its loop device in this shell for cleanup
make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
vol2=$fs/vol2
make_subvolume "$vol"
make_subvolume "$vol2"
echo before >"$vol/f"
mkdir "$vol/dir"
echo inner >"$vol/dir/g"
echo other >"$vol2/h"

view=$T/view
cur=$view/current

nsets() { stillfs list --json | jq length; }
names() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort; }
listing() { names "$1" 2>&1 | tr '\n' ' '; }
empty_dir() { [ -d "$1" ] && [ -z "$(names "$1")" ]; }
exited() { ! kill -0 "$1" 2>/dev/null; }
# the mount id of what is mounted at $1 (empty if nothing)
mount_id() { awk -v m="$1" '$5 == m { id = $1 } END { print id }' /proc/self/mountinfo; }
# no @GMT directory left in the history view
no_sets_shown() { ! names "$view" | grep -q '^@GMT-'; }
# run_exec OUT ERR ARGS...: stillfs exec ARGS, bounded; prints its exit status
run_exec() {
	local o=$1 e=$2 rc=0
	shift 2
	timeout 120 "$STILLFS" --catalog "$CATALOG" exec "$@" >"$o" 2>"$e" </dev/null || rc=$?
	[ "$rc" -ne 124 ] || fail "stillfs exec $* did not end within 120 s: $(cat "$e")"
	echo "$rc"
}
# after_exec WHAT: what every exec that did not --keep leaves: no set, an empty
# current/, the view still mounted
after_exec() {
	local n
	n=$(nsets)
	[ "$n" = 0 ] || fail "$1: $n set(s) left after exec: $(stillfs list 2>&1)"
	empty_dir "$cur" || wait_for 3 empty_dir "$cur"
	is_mounted "$view" || fail "$1: the view is no longer mounted after exec"
	wait_for 3 no_sets_shown
}

# --- exec mounts the view, runs the command over the snapshot ---
hook=$T/hook
cat >"$hook" <<EOF
#!/bin/sh
echo "\$1" >>"$T/hook.log"
EOF
chmod 755 "$hook"

# The command: records what it was given, changes the live volume, then
# copies what it sees under STILLFS_ROOT and compares it with the snapshots.
cmd=$T/cmd
cat >"$cmd" <<'EOF'
#!/bin/bash
# cmd OUT LIVE-VOLUME
o=$1
mkdir -p "$o"
printf '%s\n' "${STILLFS_SET-<unset>}" >"$o/set"
printf '%s\n' "${STILLFS_ROOT-<unset>}" >"$o/root"
echo changed-live >"$2/f"
sync -f "$2/f"
s() { "$STILLFS" --catalog "$STILLFS_CATALOG" "$@"; }
s show --json "$STILLFS_SET" >"$o/show.json" 2>"$o/show.err"
s list --json >"$o/list.json" 2>&1
cp -a "$STILLFS_ROOT" "$o/copy" 2>"$o/copy.err"
: >"$o/diff"
jq -r '.volumes[] | "\(.name)\t\(.snapshot)"' "$o/show.json" |
	while IFS=$'\t' read -r name snap; do
		diff -r "$snap" "$STILLFS_ROOT/$name" >>"$o/diff" 2>&1 || echo "differs: $name" >>"$o/diff"
	done
rc=0
s delete "$STILLFS_SET" >"$o/delete.out" 2>"$o/delete.err" || rc=$?
echo "$rc" >"$o/delete.rc"
s show --json "$STILLFS_SET" >"$o/show-after-delete.json" 2>&1
echo hello from the command
EOF
chmod 755 "$cmd"

[ ! -e "$view" ] || fail "$view exists before the first exec"
rc=$(run_exec "$T/exec1.out" "$T/exec1.err" --label run1 --writer "$hook" --view "$view" "$vol" "$vol2" -- "$cmd" "$T/o1" "$vol")
[ "$rc" = 0 ] || fail "stillfs exec exited $rc: $(cat "$T/exec1.err")"
[ -f "$T/o1/set" ] || fail "the command did not run: $(cat "$T/exec1.err")"
is_mounted "$view" || fail "the view is not mounted at $view after exec"
view_mount=$(mount_id "$view")
grep -qx "hello from the command" "$T/exec1.out" || fail "the command's output is not exec's output: '$(cat "$T/exec1.out")'"
set1=$(cat "$T/o1/set")
[ "$(cat "$T/o1/root")" = "$cur" ] || fail "STILLFS_ROOT is '$(cat "$T/o1/root")', not $cur"
show=$T/o1/show.json
[ "$(jq -r .id "$show")" = "$set1" ] || fail "STILLFS_SET '$set1' is not a set's id: 'show --json' gave $(cat "$show" "$T/o1/show.err")"
[ "$(jq -r .state "$show")" = complete ] || fail "the set of the command is not complete: $(cat "$show")"
[ "$(jq -r .label "$show")" = run1 ] || fail "the set of the command has not the label run1: $(cat "$show")"
[ "$(jq -r '.volumes | length' "$show")" = 2 ] || fail "the set of the command has not two volumes: $(cat "$show")"
jq -e --arg id "$set1" 'any(.[]; .id == $id)' "$T/o1/list.json" >/dev/null ||
	fail "stillfs list during exec does not show the set: $(cat "$T/o1/list.json")"
name=$(jq -er '.volumes[] | select(.path == $p) | .name' --arg p "$vol" "$show")
name2=$(jq -er '.volumes[] | select(.path == $p) | .name' --arg p "$vol2" "$show")
got=$(names "$T/o1/copy")
want=$(printf '%s\n%s\n' "$name" "$name2" | sort)
[ "$got" = "$want" ] || fail "STILLFS_ROOT showed '$(tr '\n' ' ' <<<"$got")', not '$(tr '\n' ' ' <<<"$want")'"
[ "$(cat "$vol/f")" = changed-live ] || fail "the command did not change the live volume"
[ "$(cat "$T/o1/copy/$name/f")" = before ] ||
	fail "through STILLFS_ROOT the command read '$(cat "$T/o1/copy/$name/f")', not the snapshot's 'before'"
[ "$(cat "$T/o1/copy/$name/dir/g")" = inner ] || fail "STILLFS_ROOT/$name/dir/g is wrong"
[ "$(cat "$T/o1/copy/$name2/h")" = other ] || fail "STILLFS_ROOT/$name2/h is wrong"
[ ! -s "$T/o1/diff" ] || fail "STILLFS_ROOT differs from the snapshots: $(cat "$T/o1/diff")"
[ "$(cat "$T/o1/delete.rc")" != 0 ] || fail "stillfs delete of the set pinned by exec succeeded"
[ -s "$T/o1/delete.err" ] || fail "stillfs delete of a pinned set was refused without a message"
jq -e '.state == "complete"' "$T/o1/show-after-delete.json" >/dev/null ||
	fail "the refused delete changed the set: $(cat "$T/o1/show-after-delete.json")"
log "delete of a pinned set refused: $(cat "$T/o1/delete.err")"
[ "$(tr '\n' ' ' <"$T/hook.log")" = "prepare freeze thaw post " ] ||
	fail "the --writer hook saw the phases '$(tr '\n' ' ' <"$T/hook.log")'"
after_exec "exec over two volumes"
for s in $(jq -r '.volumes[].snapshot' "$show"); do
	[ ! -e "$s" ] || fail "snapshot $s is left after exec"
done
log "exec: mounted the view, ran the command over the snapshot, cleaned up"

# --- exit status ---
for c in "true:0" "exit 3:3" "kill -USR1 \$\$:138" "kill -TERM \$\$:143"; do
	rc=$(run_exec "$T/exec2.out" "$T/exec2.err" --view "$view" "$vol" -- sh -c "${c%:*}")
	[ "$rc" = "${c##*:}" ] || fail "stillfs exec of 'sh -c \"${c%:*}\"' exited $rc, not ${c##*:}: $(cat "$T/exec2.err")"
	after_exec "exec of '${c%:*}'"
done
[ "$(mount_id "$view")" = "$view_mount" ] || fail "exec mounted the view again though it was mounted"
log "exit status passes through; the mounted view is used as it is"

# a set that cannot be made: the command does not run
mkdir "$fs/plain"
rc=$(run_exec "$T/exec2.out" "$T/exec2.err" --provider btrfs --view "$view" "$fs/plain" -- touch "$T/ran")
[ "$rc" != 0 ] || fail "stillfs exec --provider btrfs of a directory that is no subvolume exited 0"
[ ! -e "$T/ran" ] || fail "stillfs exec ran the command though it could not make the set"
[ -s "$T/exec2.err" ] || fail "stillfs exec failed ($rc) without a message"
after_exec "exec of a directory that is no subvolume"
log "exec that cannot make its set exits $rc without running the command: $(cat "$T/exec2.err")"

# --- --keep ---
rc=$(run_exec "$T/exec3.out" "$T/exec3.err" --keep --label kept --view "$view" "$vol" -- \
	sh -c 'printf "%s\n" "$STILLFS_SET" >"$1"' sh "$T/keep.set")
[ "$rc" = 0 ] || fail "stillfs exec --keep exited $rc: $(cat "$T/exec3.err")"
kept=$(cat "$T/keep.set")
list=$(stillfs list --json)
[ "$(jq -c '[.[] | {id: .id, state: .state, label: .label}]' <<<"$list")" = "[{\"id\":\"$kept\",\"state\":\"complete\",\"label\":\"kept\"}]" ] ||
	fail "after exec --keep, stillfs list is not the kept set alone: $list"
stillfs list | grep -qF "$kept" || fail "stillfs list (text) does not show the kept set: $(stillfs list 2>&1)"
empty_dir "$cur" || wait_for 3 empty_dir "$cur"
timeout 60 "$STILLFS" --catalog "$CATALOG" gc >"$T/gc.out" 2>&1 || fail "stillfs gc failed: $(cat "$T/gc.out")"
[ "$(stillfs list --json | jq -r '.[].id')" = "$kept" ] || fail "gc removed the set kept by exec --keep: $(cat "$T/gc.out")"
stillfs delete "$kept" >/dev/null 2>"$T/delete.err" || fail "stillfs delete of the kept (unpinned) set failed: $(cat "$T/delete.err")"
[ "$(nsets)" = 0 ] || fail "the kept set is still listed after its delete"
log "--keep: the set stays, unpinned, and gc keeps it"

# --- pin and unpin by hand ---
echo A >"$vol/f"
echo only-A >"$vol/a-only"
setA=$(create_set "$vol") || fail "stillfs create of set A failed"
echo B-longer >"$vol/f"
rm "$vol/a-only"
echo only-B >"$vol/b-only"
setB=$(create_set "$vol") || fail "stillfs create of set B failed"
tokenB=$(stillfs show --json "$setB" | jq -er .token)
name=$(stillfs show --json "$setA" | jq -er '.volumes[0].name')
empty_dir "$cur" || fail "current/ is not empty before any pin: $(listing "$cur")"

t0=$(date +%s)
timeout 60 "$STILLFS" --catalog "$CATALOG" pin --view "$view" "$setA" 2>"$T/pin.err" || fail "stillfs pin $setA failed: $(cat "$T/pin.err")"
t1=$(date +%s)
[ "$(names "$cur")" = "$name" ] || fail "right after pin, current/ shows '$(listing "$cur")', not $name"
[ "$(cat "$cur/$name/f")" = A ] || fail "right after pin of set A, current/$name/f reads '$(cat "$cur/$name/f")'"
[ "$(cat "$cur/$name/a-only")" = only-A ] || fail "current/ does not show a-only of set A"
[ ! -e "$cur/$name/b-only" ] || fail "current/ shows b-only, which set A has not"
m=$(stat -c %Y "$cur")
if [ "$m" -lt "$t0" ] || [ "$m" -gt "$t1" ]; then
	fail "current/'s mtime $m is not the time of the pin ($t0..$t1)"
fi
# the kernel now caches f, its size, a-only, and that b-only does not exist
stat "$cur/$name/f" "$cur/$name/a-only" >/dev/null
ls -la "$cur/$name" >/dev/null
[ "$(names "$cur/$name")" = "$(printf '%s\n' a-only dir f)" ] || fail "current/$name lists '$(listing "$cur/$name")'"

timeout 60 "$STILLFS" --catalog "$CATALOG" pin --view "$view" "$tokenB" 2>"$T/pin.err" || fail "stillfs pin $tokenB failed: $(cat "$T/pin.err")"
[ "$(cat "$cur/$name/f")" = B-longer ] || fail "right after pin of set B, current/$name/f reads '$(cat "$cur/$name/f")', not B-longer"
[ "$(stat -c %s "$cur/$name/f")" = 9 ] || fail "right after pin of set B, current/$name/f has size $(stat -c %s "$cur/$name/f"), not 9"
[ -e "$cur/$name/b-only" ] || fail "right after pin of set B, current/$name/b-only does not exist"
[ ! -e "$cur/$name/a-only" ] || fail "right after pin of set B, current/$name/a-only, of set A, is still there"
[ "$(names "$cur/$name")" = "$(printf '%s\n' b-only dir f)" ] || fail "after pin of set B, current/$name lists '$(listing "$cur/$name")'"
log "pin switches current/ at once"

rc=0
stillfs delete "$setB" >"$T/delete.out" 2>"$T/delete.err" || rc=$?
[ "$rc" != 0 ] || fail "stillfs delete of the pinned set B succeeded"
[ -s "$T/delete.err" ] || fail "stillfs delete of a pinned set was refused without a message"
[ "$(stillfs show --json "$setB" | jq -r .state)" = complete ] || fail "the refused delete changed set B: $(stillfs show "$setB" 2>&1)"
[ "$(cat "$cur/$name/f")" = B-longer ] || fail "after the refused delete, current/ no longer shows set B"
stillfs delete "$setA" 2>"$T/delete.err" || fail "stillfs delete of the unpinned set A failed: $(cat "$T/delete.err")"

rc=0
timeout 60 "$STILLFS" --catalog "$CATALOG" pin --view "$view" no-such-set >/dev/null 2>"$T/pin.err" || rc=$?
[ "$rc" != 0 ] || fail "stillfs pin of an unknown set succeeded"
[ "$(cat "$cur/$name/f")" = B-longer ] || fail "the failed pin changed current/"

timeout 60 "$STILLFS" --catalog "$CATALOG" unpin --view "$view" 2>"$T/unpin.err" || fail "stillfs unpin failed: $(cat "$T/unpin.err")"
empty_dir "$cur" || wait_for 3 empty_dir "$cur"
stillfs delete "$setB" 2>"$T/delete.err" || fail "stillfs delete of set B after unpin failed: $(cat "$T/delete.err")"
[ "$(nsets)" = 0 ] || fail "sets left after the pin tests: $(stillfs list 2>&1)"
log "a pinned set cannot be deleted; unpin empties current/"

# --- signals sent to exec reach the command ---
# start_exec NAME ARGS...: starts 'stillfs exec ARGS' in the background, with
# SIGINT at its default (a background job of a script ignores it). The pid
# of stillfs exec goes to $T/NAME.pid, its exit status to $T/NAME.rc.
start_exec() {
	local n=$1 sub
	shift
	(
		rc=0
		bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec env --default-signal=INT "$@"' \
			"$T/$n.pid" "$STILLFS" --catalog "$CATALOG" exec "$@" >"$T/$n.out" 2>"$T/$n.err" </dev/null || rc=$?
		echo "$rc" >"$T/$n.rc.tmp"
		mv "$T/$n.rc.tmp" "$T/$n.rc"
	) &
	sub=$!
	disown "$sub"
	track_pid "$sub"
	wait_for 10 test -s "$T/$n.pid"
	track_pid "$(cat "$T/$n.pid")"
}
# end_exec NAME WHAT: waits (30 s at most) for the exec started as NAME to end
end_exec() {
	local n=$1 pid
	pid=$(cat "$T/$n.pid")
	for _ in $(seq 300); do
		[ -s "$T/$n.rc" ] && return 0
		sleep 0.1
	done
	fail "stillfs exec did not end within 30 s after $2; $(ps -o pid,stat,wchan:32,args --ppid "$pid" -p "$pid" 2>&1 | tr '\n' ';') its stderr: $(cat "$T/$n.err")"
}
# a command that records its pid and set, then sleeps
sleeper=(bash -c 'echo "$STILLFS_SET" >"$0.set" && echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec sleep 300')

for c in TERM:143 INT:130; do
	sig=${c%:*}
	start_exec "$sig" --view "$view" "$vol" -- "${sleeper[@]}" "$T/$sig.cmd"
	wait_for 30 test -s "$T/$sig.cmd"
	cpid=$(cat "$T/$sig.cmd")
	track_pid "$cpid"
	[ "$(names "$cur")" = "$name" ] || fail "during exec ($sig), current/ shows '$(listing "$cur")'"
	kill "-$sig" "$(cat "$T/$sig.pid")"
	wait_for 15 exited "$cpid"
	end_exec "$sig" "SIG$sig"
	rc=$(cat "$T/$sig.rc")
	[ "$rc" = "${c#*:}" ] || fail "SIG$sig to stillfs exec: it exited $rc, not ${c#*:}: $(cat "$T/$sig.err")"
	after_exec "exec ended by SIG$sig"
	log "SIG$sig to exec killed the command; exec exited $rc and cleaned up"
done

# a command that traps SIGHUP and exits 9 (short sleeps: bash runs a trap only
# between commands, and a signal just before a 'wait' would wait for its child)
start_exec HUP --view "$view" "$vol" -- bash -c '
	trap "echo got-HUP >\"\$0.got\"; exit 9" HUP
	echo $$ >"$0.tmp" && mv "$0.tmp" "$0"
	while :; do sleep 0.1; done' "$T/HUP.cmd"
wait_for 30 test -s "$T/HUP.cmd"
cpid=$(cat "$T/HUP.cmd")
track_pid "$cpid"
kill -HUP "$(cat "$T/HUP.pid")"
wait_for 15 exited "$cpid"
end_exec HUP SIGHUP
[ "$(cat "$T/HUP.cmd.got" 2>/dev/null)" = got-HUP ] || fail "SIGHUP to stillfs exec did not reach the command"
rc=$(cat "$T/HUP.rc")
[ "$rc" = 9 ] || fail "SIGHUP to stillfs exec: the command exited 9 but exec exited $rc: $(cat "$T/HUP.err")"
after_exec "exec ended by SIGHUP"
log "SIGHUP to exec reached the command; its exit status is exec's"

# --- exec killed with SIGKILL ---
start_exec KILL --view "$view" "$vol" -- "${sleeper[@]}" "$T/KILL.cmd"
wait_for 30 test -s "$T/KILL.cmd"
cpid=$(cat "$T/KILL.cmd")
track_pid "$cpid"
setK=$(cat "$T/KILL.cmd.set")
snapK=$(snapshot_path "$setK") || fail "no snapshot for the set of exec"
timeout 60 "$STILLFS" --catalog "$CATALOG" gc >"$T/gc.out" 2>&1 || fail "stillfs gc failed: $(cat "$T/gc.out")"
[ "$(stillfs show --json "$setK" 2>/dev/null | jq -r .state)" = complete ] ||
	fail "gc while exec was running took its set: $(cat "$T/gc.out")"
[ "$(names "$cur")" = "$name" ] || fail "gc while exec was running emptied current/: $(listing "$cur")"
kill -KILL "$(cat "$T/KILL.pid")"
end_exec KILL SIGKILL
[ "$(cat "$T/KILL.rc")" = 137 ] || fail "stillfs exec killed with SIGKILL exited $(cat "$T/KILL.rc")"
# the command gets SIGTERM when exec dies: it must not go on reading a set whose
# lease ended (gone, or a zombie that nobody reaps yet)
ended() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
wait_for 10 ended "$cpid"
log "the command ended with exec"
[ "$(stillfs list --json | jq -r '.[].id')" = "$setK" ] || fail "after exec was killed, the sets are: $(stillfs list 2>&1)"
timeout 60 "$STILLFS" --catalog "$CATALOG" gc >"$T/gc.out" 2>&1 || fail "stillfs gc after exec was killed failed: $(cat "$T/gc.out")"
log "gc: $(tr '\n' ' ' <"$T/gc.out")"
[ "$(nsets)" = 0 ] || fail "gc left the set of the killed exec: $(stillfs list 2>&1); gc said: $(cat "$T/gc.out")"
[ ! -e "$snapK" ] || fail "gc left the snapshot $snapK of the killed exec"
empty_dir "$cur" || wait_for 3 empty_dir "$cur"
wait_for 3 no_sets_shown
log "after SIGKILL of exec, gc removed its set and its pin"

# --- exec --passthrough mounts its view with --passthrough ---
# a view already mounted stays as it is, and exec says so
rc=$(run_exec "$T/ptm.out" "$T/ptm.err" --no-writers --passthrough --view "$view" "$vol" -- true)
[ "$rc" = 0 ] || fail "exec --passthrough on a mounted view exited $rc: $(cat "$T/ptm.err")"
grep -qF -- "--passthrough applies only to a view mounted now" "$T/ptm.err" ||
	fail "exec --passthrough on a mounted view did not say that it stays as mounted: $(cat "$T/ptm.err")"
after_exec "exec --passthrough on a mounted view"

head -c $((16 << 20)) /dev/urandom >"$vol/big"
ptview=$T/view-pt
rc=$(run_exec "$T/pt.out" "$T/pt.err" --no-writers --keep --passthrough --view "$ptview" "$vol" -- true)
[ "$rc" = 0 ] || fail "exec --passthrough exited $rc: $(cat "$T/pt.err")"
setP=$(stillfs list --json | jq -r '.[0].id')
ptview=$(realpath "$ptview")
# passthrough_daemon MOUNTPOINT: the pid of 'stillfs mount --passthrough MOUNTPOINT'
passthrough_daemon() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")" = "stillfs --catalog $CATALOG mount --passthrough $1 " ] &&
			echo "${p#/proc/}"
	done
	return 0
}
ptdaemon=$(passthrough_daemon "$ptview")
[ -n "$ptdaemon" ] || fail "no 'stillfs mount --passthrough $ptview' runs after exec --passthrough: $(pgrep -a stillfs)"
big=$(find "$ptview"/@GMT-*/ -maxdepth 2 -name big)
[ -n "$big" ] || fail "the kept set's big file is not in the view: $(find "$ptview" -maxdepth 3 2>&1)"
rchar() { awk '/^rchar:/ { print $2 }' "/proc/$ptdaemon/io"; }
# whether the kernel offers passthrough: a view in the foreground says
mkdir -p "$T/probe"
timeout 30 "$STILLFS" --catalog "$CATALOG" mount -f --passthrough "$T/probe" 2>"$T/probe.log" &
track_pid $!
offered=0
passthrough_offered "$T/probe.log" && offered=1
timeout 30 "$STILLFS" --catalog "$CATALOG" umount "$T/probe" || fail "stillfs umount $T/probe failed"
if [ "$offered" = 1 ] && [ -r "/proc/$ptdaemon/io" ]; then
	echo 3 >/proc/sys/vm/drop_caches
	r0=$(rchar)
	cmp "$big" "$vol/big" || fail "the big file read through the passthrough view differs"
	r1=$(rchar)
	[ $((r1 - r0)) -lt $((1 << 20)) ] ||
		fail "through the view exec mounted with --passthrough, its daemon read $((r1 - r0)) bytes of a 16 MiB file"
	log "exec --passthrough: a cold read of 16 MiB made the view's daemon read $((r1 - r0)) bytes"
else
	log "exec --passthrough: the kernel offers no passthrough (or no task I/O accounting); only the mount was checked"
fi
timeout 30 "$STILLFS" umount "$ptview" 2>"$T/umount.err" || fail "stillfs umount $ptview failed: $(cat "$T/umount.err")"

# pin --passthrough mounts the same way; unpin has no such option
mkdir -p "$T/view-pin"
pinview=$(realpath "$T/view-pin")
timeout 60 "$STILLFS" --catalog "$CATALOG" pin --passthrough --view "$pinview" "$setP" 2>"$T/pin.err" ||
	fail "pin --passthrough failed: $(cat "$T/pin.err")"
[ -n "$(passthrough_daemon "$pinview")" ] ||
	fail "no 'stillfs mount --passthrough $pinview' runs after pin --passthrough: $(pgrep -a stillfs)"
cmp "$pinview/current/$(basename "$(dirname "$big")")/big" "$vol/big" ||
	fail "the big file in current/ of the view pin mounted differs"
rc=0
"$STILLFS" --catalog "$CATALOG" unpin --passthrough --view "$pinview" 2>"$T/unpin.err" || rc=$?
[ "$rc" = 2 ] || fail "unpin --passthrough exited $rc, not 2 (a usage error): $(cat "$T/unpin.err")"
stillfs unpin --view "$pinview" || fail "unpin of $pinview failed"
timeout 30 "$STILLFS" umount "$pinview" 2>"$T/umount.err" || fail "stillfs umount $pinview failed: $(cat "$T/umount.err")"
log "pin --passthrough mounted its view with --passthrough"
stillfs delete "$setP" >/dev/null 2>"$T/delete.err" || fail "delete of the kept set failed: $(cat "$T/delete.err")"

timeout 30 "$STILLFS" umount "$view" 2>"$T/umount.err" || fail "stillfs umount $view failed: $(cat "$T/umount.err")"
is_mounted "$view" && fail "$view is still mounted after stillfs umount"
log "ok"
