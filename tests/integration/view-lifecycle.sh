#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# A view through the life of its sets. Mounted over a catalog without sets it
# is empty, with no 'latest'; a set created while it is mounted appears within
# 3 s and 'latest' follows the newest; a set deleted while a process has a file
# of it open and a directory of it as its working directory disappears within
# 3 s, without taking the daemon down, and the open file either still reads its
# data or fails, but nothing hangs or crashes. 'mount --set' of a one-volume set
# shows the volume at the root, of a two-volume set two directories. Inode
# numbers are the same after unmounting and mounting again. 'stillfs umount'
# ends the daemon; on a busy view it fails with a clear message, and --lazy
# detaches it anyway.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd jq pgrep cmp

# not in $(...): make_btrfs must record its loop device in this shell for cleanup
make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
vol2=$fs/vol2
make_subvolume "$vol"
make_subvolume "$vol2"
head -c 3M /dev/urandom >"$vol/data"
mkdir -p "$vol/dir/sub"
echo "one" >"$vol/dir/one"
echo "two" >"$vol/dir/sub/two"
ln "$vol/dir/one" "$vol/dir/one-link"
ln -s dir/one "$vol/symlink"
echo "second volume" >"$vol2/file2"

# a catalog without sets: made by one create and one delete
first=$(create_set "$vol") || fail "stillfs create failed"
stillfs delete "$first" 2>/dev/null || fail "stillfs delete $first failed"
[ "$(stillfs list --json | jq length)" = 0 ] || fail "the catalog is not empty after the delete"

# the pid of the daemon serving MOUNTPOINT (its command line names the mount point)
daemon_pid() { pgrep -f -- " mount .*$1\$" || true; }
token_of() { stillfs show --json "$1" | jq -er .token; }
name_of() { stillfs show --json "$1" | jq -er ".volumes[${2:-0}].name"; }
# the names in a directory, as readdir gives them
names() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n'; }
listing() { names "$1" 2>&1 | tr '\n' ' '; }
exited() { ! kill -0 "$1" 2>/dev/null; }

view=$T/view
mount_view "$view"
pid=$(daemon_pid "$view")
[ -n "$pid" ] || fail "no daemon process found for $view"
[ "$(wc -w <<<"$pid")" -eq 1 ] || fail "several processes serve $view: $pid"
# only current/, and empty: nothing is pinned
[ "$(names "$view")" = current ] ||
	fail "the view over a catalog without sets shows more than current/: $(listing "$view")"
[ -z "$(names "$view/current")" ] || fail "current/ is not empty: $(listing "$view/current")"
if [ -e "$view/latest" ] || [ -L "$view/latest" ]; then
	fail "the view over a catalog without sets has a 'latest'"
fi

# --- sets appear, 'latest' follows ---
in_listing() { names "$1" | grep -qxF -- "$2"; }
latest_is() { [ "$(readlink "$view/latest" 2>/dev/null)" = "$1" ]; }

id1=$(create_set "$vol") || fail "stillfs create of set 1 failed"
token1=$(token_of "$id1")
name=$(name_of "$id1")
wait_for 3 in_listing "$view" "$token1"
wait_for 3 latest_is "$token1"
[ -d "$view/$token1/$name" ] || fail "set 1 shows no $name: $(listing "$view/$token1")"
cmp "$view/$token1/$name/data" "$vol/data" || fail "set 1: data differs from the volume"
[ "$(readlink "$view/$token1/$name/symlink")" = dir/one ] || fail "set 1: the symlink reads wrong"
log "set 1 ($token1) appeared"

echo "changed after set 1" >"$vol/dir/one"
id2=$(create_set "$vol") || fail "stillfs create of set 2 failed"
token2=$(token_of "$id2")
wait_for 3 in_listing "$view" "$token2"
wait_for 3 latest_is "$token2"
in_listing "$view" "$token1" || fail "set 1 went from the view when set 2 came: $(listing "$view")"
[ "$(cat "$view/latest/$name/dir/one")" = "changed after set 1" ] || fail "latest does not show set 2"
[ "$(cat "$view/$token1/$name/dir/one")" = "one" ] || fail "set 1 no longer shows its own content"
# two versions of a file are never one file with two names
i1=$(stat -c %i "$view/$token1/$name/dir/one")
i2=$(stat -c %i "$view/$token2/$name/dir/one")
[ "$i1" != "$i2" ] || fail "dir/one has inode $i1 in both sets: tar would store one as a hard link of the other"
# a hard link within a set is one file
[ "$(stat -c %i "$view/$token1/$name/dir/one-link")" = "$i1" ] || fail "the hard link in set 1 has another inode"
log "set 2 ($token2) appeared; latest follows"

# --- delete a set in use ---
dir1=$view/$token1/$name
hold=$T/hold
mkdir "$hold"
# a process that has set 1's data open and its dir as working directory; on
# 'go' it reads the open file and lists its working directory. The paths come
# through the environment, so that its command line does not name the view.
HOLD=$hold DIR=$dir1 bash -c '
	cd "$DIR/dir" || exit 1
	exec 3<"$DIR/data" || exit 1
	head -c 4096 <&3 >"$HOLD/first" || exit 1
	: >"$HOLD/ready"
	for _ in $(seq 600); do
		[ -e "$HOLD/go" ] && break
		sleep 0.1
	done
	timeout 30 cat <&3 >"$HOLD/rest" 2>"$HOLD/read.err"
	echo $? >"$HOLD/read.rc"
	timeout 30 ls -A . >"$HOLD/ls" 2>"$HOLD/ls.err"
	echo $? >"$HOLD/ls.rc"
	: >"$HOLD/done"
	exec sleep 300
' &
holder=$!
track_pid "$holder"
disown "$holder" # killed at the end: no job notice in the log
wait_for 10 test -e "$hold/ready"
cmp -n 4096 "$hold/first" "$vol/data" || fail "the holder read wrong bytes before the delete"

rc=0
timeout 60 "$STILLFS" --catalog "$CATALOG" delete "$id1" 2>"$T/delete.err" || rc=$?
[ "$rc" -eq 0 ] || fail "stillfs delete of set 1, in use through the view, exited $rc: $(cat "$T/delete.err")"
gone() { ! in_listing "$view" "$token1"; }
wait_for 3 gone
wait_for 3 bash -c "! test -e '$view/$token1'"
kill -0 "$pid" 2>/dev/null || fail "the daemon died when set 1 was deleted"
in_listing "$view" "$token2" || fail "set 2 went from the view with set 1: $(listing "$view")"
latest_is "$token2" || fail "latest no longer points to set 2"
ls "$view/latest/$name" >/dev/null || fail "the view does not answer for set 2 after set 1 was deleted"

: >"$hold/go"
wait_for 60 test -e "$hold/done"
read_rc=$(cat "$hold/read.rc")
if [ "$read_rc" -eq 0 ]; then
	cat "$hold/first" "$hold/rest" | cmp - "$vol/data" ||
		fail "the file open in the deleted set read without error but returned wrong data"
	log "the open file of the deleted set still read its data"
else
	[ "$read_rc" -ne 124 ] || fail "reading the open file of the deleted set hung"
	log "the open file of the deleted set failed to read ($read_rc): $(cat "$hold/read.err")"
fi
ls_rc=$(cat "$hold/ls.rc")
[ "$ls_rc" -ne 124 ] || fail "listing the deleted set's directory hung"
log "listing the deleted directory gave $ls_rc: $(tr '\n' ' ' <"$hold/ls") $(cat "$hold/ls.err")"
kill -0 "$pid" 2>/dev/null || fail "the daemon died when a process used the deleted set"
ls "$view" >/dev/null || fail "the view does not answer after the deleted set was used"
cmp "$view/latest/$name/data" "$vol/data" || fail "set 2 reads wrong after set 1 was deleted"
kill -KILL "$holder"
timeout 10 tail --pid="$holder" -f /dev/null || fail "the holder did not end"

# --- mount --set ---
single=$T/single
mount_view "$single" --set "$id2"
[ -f "$single/data" ] || fail "mount --set of a one-volume set does not show the volume at the root: $(listing "$single")"
cmp "$single/data" "$vol/data" || fail "mount --set: data differs"
[ "$(cat "$single/dir/one")" = "changed after set 1" ] || fail "mount --set shows another set"
if [ -e "$single/latest" ] || [ -L "$single/latest" ] || names "$single" | grep -q '^@GMT-'; then
	fail "mount --set shows the history: $(listing "$single")"
fi

id3=$(create_set "$vol" "$vol2") || fail "stillfs create of a two-volume set failed"
name2=$(name_of "$id3" 1)
[ "$(name_of "$id3" 0)" = "$name" ] || fail "the first volume of set 3 is not named $name"
two=$T/two
mount_view "$two" --set "$id3"
got=$(names "$two" | sort)
want=$(printf '%s\n%s\n' "$name" "$name2" | sort)
[ "$got" = "$want" ] || fail "mount --set of a two-volume set shows '$got', not '$want'"
cmp "$two/$name/data" "$vol/data" || fail "two-volume set: data differs"
[ "$(cat "$two/$name2/file2")" = "second volume" ] || fail "two-volume set: file2 differs"
token3=$(token_of "$id3")
wait_for 3 latest_is "$token3"
log "mount --set: one volume at the root, two volumes as two directories"

# --- inode numbers after unmount and mount again ---
inodes() {
	local m=$1
	shift
	(cd "$m" && stat -c '%n %i' "$@")
}
view_paths=(. "$token2" "$token2/$name" "$token2/$name/data" "$token2/$name/dir" "$token2/$name/dir/one"
	"$token2/$name/dir/one-link" "$token2/$name/dir/sub/two" "$token2/$name/symlink"
	"$token3/$name/data" "$token3/$name2/file2" "$token3/$name2")
single_paths=(. data dir dir/one dir/sub dir/sub/two symlink)
two_paths=(. "$name" "$name/data" "$name/dir/sub/two" "$name2" "$name2/file2")
before_view=$(inodes "$view" "${view_paths[@]}") || fail "cannot stat in $view"
before_single=$(inodes "$single" "${single_paths[@]}") || fail "cannot stat in $single"
before_two=$(inodes "$two" "${two_paths[@]}") || fail "cannot stat in $two"

# stillfs umount ends each daemon
for m in "$view" "$single" "$two"; do
	p=$(daemon_pid "$m")
	[ -n "$p" ] || fail "no daemon found for $m"
	timeout 30 "$STILLFS" umount "$m" 2>"$T/umount.err" || fail "stillfs umount $m failed: $(cat "$T/umount.err")"
	is_mounted "$m" && fail "$m is still mounted after stillfs umount"
	wait_for 10 exited "$p"
	[ -z "$(daemon_pid "$m")" ] || fail "a stillfs process still serves $m: $(daemon_pid "$m")"
done

mount_view "$view"
mount_view "$single" --set "$id2"
mount_view "$two" --set "$id3"
after_view=$(inodes "$view" "${view_paths[@]}") || fail "cannot stat in $view after mounting again"
after_single=$(inodes "$single" "${single_paths[@]}") || fail "cannot stat in $single after mounting again"
after_two=$(inodes "$two" "${two_paths[@]}") || fail "cannot stat in $two after mounting again"
[ "$after_view" = "$before_view" ] ||
	fail "inode numbers in the view changed after mounting again: $(diff <(echo "$before_view") <(echo "$after_view") | grep '^[<>]')"
[ "$after_single" = "$before_single" ] ||
	fail "inode numbers in the --set view changed after mounting again: $(diff <(echo "$before_single") <(echo "$after_single") | grep '^[<>]')"
[ "$after_two" = "$before_two" ] ||
	fail "inode numbers in the two-volume view changed after mounting again: $(diff <(echo "$before_two") <(echo "$after_two") | grep '^[<>]')"
log "inode numbers are the same after mounting again"

# --- a catalog named relative to the working directory: the daemon, which
# leaves it, still reads that catalog ---
rel=$T/relative
mkdir -p "$rel"
(cd "$T" && timeout 30 "$STILLFS" --catalog "$(basename "$CATALOG")" mount relative) ||
	fail "stillfs mount with a relative catalog path failed"
wait_for 10 is_mounted "$rel"
[ "$(readlink "$rel/latest")" = "$(readlink "$view/latest")" ] ||
	fail "the view of a relative catalog path shows another catalog: latest is '$(readlink "$rel/latest")'"
timeout 30 "$STILLFS" umount "$rel" || fail "stillfs umount $rel failed"

# --- umount of a busy view, then --lazy ---
timeout 30 "$STILLFS" umount "$single" || fail "stillfs umount $single failed"
timeout 30 "$STILLFS" umount "$two" || fail "stillfs umount $two failed"
pid=$(daemon_pid "$view")
[ -n "$pid" ] || fail "no daemon found for $view"
HOLD=$hold DIR=$view/latest/$name bash -c 'cd "$DIR/dir" && : >"$HOLD/busy" && exec sleep 300' &
busy=$!
track_pid "$busy"
disown "$busy"
wait_for 10 test -e "$hold/busy"
rc=0
timeout 30 "$STILLFS" umount "$view" >"$T/umount.out" 2>"$T/umount.err" || rc=$?
[ "$rc" -eq 1 ] || fail "stillfs umount of a busy view exited $rc, not 1: $(cat "$T/umount.err")"
[ "$(wc -l <"$T/umount.err")" -eq 1 ] || fail "stillfs umount of a busy view printed not one line: $(cat "$T/umount.err")"
grep -qi busy "$T/umount.err" || fail "stillfs umount of a busy view does not say it is busy: $(cat "$T/umount.err")"
grep -qF "$view" "$T/umount.err" || fail "stillfs umount of a busy view does not name it: $(cat "$T/umount.err")"
is_mounted "$view" || fail "the busy view was unmounted after all"
ls "$view/latest/$name" >/dev/null || fail "the busy view stopped answering after a refused umount"
kill -0 "$pid" 2>/dev/null || fail "the daemon died on a refused umount"

timeout 30 "$STILLFS" umount --lazy "$view" 2>"$T/umount.err" || fail "stillfs umount --lazy failed: $(cat "$T/umount.err")"
is_mounted "$view" && fail "$view is still mounted after umount --lazy"
kill -0 "$busy" 2>/dev/null || fail "the process inside the view died on umount --lazy"
kill -KILL "$busy"
timeout 10 tail --pid="$busy" -f /dev/null || fail "the busy process did not end"
wait_for 10 exited "$pid"
[ -z "$(daemon_pid "$view")" ] || fail "a stillfs process still serves $view after the lazy umount"
log "ok"
