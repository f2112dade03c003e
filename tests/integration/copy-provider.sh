#!/bin/bash
# copy-provider: volumes that are not btrfs get a file-level shadow copy.
#
# An ext4 volume (storage on another ext4) and an XFS volume (storage on the
# same XFS, so files are cloned with reflinks) each get the tree of every kind
# of file (mktree.sh). For each:
#  - a set is made with the provider chosen automatically; through the view
#    the set equals the volume (treecmp: everything, nlink and hard-link
#    groups included), and every entry shows its original inode number and
#    ctime;
#  - after a file is changed, one added and one removed, a second set shares
#    every unchanged file with the first (the same inode in storage), copies
#    the changed one, and both sets still show exactly their own instant;
#  - deleting the first set leaves the second whole.
# On XFS a 64 MiB file costs almost no space in storage (a clone).
# A file that keeps changing without locks is reported by create and show
# (--strict fails the set). Then the refusals: storage inside the volume (also through a bind mount),
# a volume that is a file, /proc, an unknown provider, btrfs forced on ext4;
# a full storage fails the set with a clear error and leaves nothing behind;
# a create killed in the middle of its copy leaves only what gc then removes;
# and a user
# who swaps a directory of the volume for a symlink to /etc during creates
# never gets a file of /etc into a set.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd jq setfattr setfacl mknod find setpriv mkfs.ext4 mkfs.xfs
[ -e /dev/fuse ] || skip "no /dev/fuse"
MKTREE=$(dirname "$(readlink -f "$0")")/../tools/mktree.sh

# identity DIR: every entry's path, inode number, ctime and link count. The
# view numbers a set's files with the set and volume in the high bits (see
# fs/ino.h) and the original inode number in the low 40: those are compared.
identity() {
	(cd "$1" && find . -printf '%P\t%i\t%C@\t%n\n') |
		awk -F '\t' -v OFS='\t' '{ $2 = $2 % 1099511627776; print }' | LC_ALL=C sort
}

# storage_ino SET PATH: the inode number of PATH in the set's copy in storage
storage_ino() { stat -c %i "$(snapshot_path "$1")/$2"; }

# check_set ID DIR WHAT: the view of set ID equals DIR, identity included
check_set() {
	local id=$1 dir=$2 what=$3 mnt=$T/view-$1
	mount_view "$mnt" --set "$id"
	tool treecmp "$dir" "$mnt" >"$T/treecmp.out" 2>&1 ||
		fail "$what: the view differs from the volume: $(head -c 3000 "$T/treecmp.out")"
	identity "$dir" >"$T/id-vol"
	identity "$mnt" >"$T/id-view"
	diff "$T/id-vol" "$T/id-view" >"$T/id.diff" ||
		fail "$what: inode numbers, ctimes or link counts differ: $(head -c 2000 "$T/id.diff")"
	umount "$mnt" || fail "umount $mnt"
	log "ok: $what ($(wc -l <"$T/id-vol") entries, identity included)"
}

# space ID: "EXCLUSIVE REFERENCED" as show --json reports the set's space
space() { stillfs show --json "$1" | jq -r '.volumes[0].space | "\(.exclusive) \(.referenced)"'; }

# check_space OLD NEW: with two sets sharing their unchanged files, each set
# refers to what du counts in its tree, and holds alone what du counts for
# both trees less the other's (du counts each inode once)
check_space() {
	local t1 t2 both d1 d2 e1 r1 e2 r2
	t1=$(snapshot_path "$1")
	t2=$(snapshot_path "$2")
	d1=$(du -s -B1 "$t1" | cut -f1)
	d2=$(du -s -B1 "$t2" | cut -f1)
	both=$(du -s -B1 "$t1" "$t2" | awk '{ s += $1 } END { print s }')
	read -r e1 r1 < <(space "$1")
	read -r e2 r2 < <(space "$2")
	[ "$r1" = "$d1" ] && [ "$r2" = "$d2" ] ||
		fail "the sets refer to $r1 and $r2 bytes, du counts $d1 and $d2"
	[ "$e1" = $((both - d2)) ] && [ "$e2" = $((both - d1)) ] ||
		fail "the sets hold $e1 and $e2 bytes alone, du says $((both - d2)) and $((both - d1))"
	[ "$e1" -ge 400000 ] && [ "$e1" -lt "$r1" ] ||
		fail "the first set holds $e1 of its $r1 bytes alone: not its two old files only"
	stillfs show "$1" | grep -q "space: .* its own (what deleting the set gives back), .* in all" ||
		fail "show does not print the space: $(stillfs show "$1")"
	log "ok: the sets hold $e1 and $e2 bytes alone, of $r1 and $r2"
}

# one_volume TYPE: the whole story on one filesystem type
one_volume() {
	local type=$1 vol sto id1 id2 f
	vol=$(make_fs "$type" "vol-$type" 600M)
	if [ "$type" = xfs ]; then
		# storage on the same XFS as the volume, beside it: files are cloned
		mkdir "$vol/data"
		sto=$vol/storage
		vol=$vol/data
	else
		sto=$(make_fs ext4 "sto-$type" 600M)/copies
	fi
	mkdir "$vol/tree"
	"$MKTREE" "$vol/tree" >/dev/null || fail "mktree.sh on $type"
	mkdir "$vol/work"
	for f in a b c; do head -c 200000 /dev/urandom >"$vol/work/$f"; done

	id1=$(create_set --no-writers --storage "$sto" "$vol") || fail "$type: create"
	[ "$(stillfs show --json "$id1" | jq -r '.volumes[0].provider')" = copy ] ||
		fail "$type: the copy provider was not chosen"
	check_set "$id1" "$vol" "$type: the first set"

	# keep the first instant to compare with later (only work/ changes)
	cp -a "$vol/work" "$T/work1-$type"
	identity "$vol" >"$T/id1-$type"

	echo more >>"$vol/work/a"
	head -c 1000 /dev/urandom >"$vol/work/new"
	rm "$vol/work/c"
	id2=$(create_set --no-writers --storage "$sto" "$vol") || fail "$type: second create"
	check_set "$id2" "$vol" "$type: the second set"
	[ "$(storage_ino "$id1" work/b)" = "$(storage_ino "$id2" work/b)" ] ||
		fail "$type: the unchanged work/b was copied again, not shared"
	[ "$(storage_ino "$id1" tree/files/text)" = "$(storage_ino "$id2" tree/files/text)" ] ||
		fail "$type: the unchanged tree/files/text was copied again, not shared"
	[ "$(storage_ino "$id1" work/a)" != "$(storage_ino "$id2" work/a)" ] ||
		fail "$type: the changed work/a was shared with the earlier set"
	log "ok: $type: the second set shares unchanged files with the first"
	[ "$type" = ext4 ] && check_space "$id1" "$id2"

	# the first set still shows its own instant, identity included
	mount_view "$T/view-old" --set "$id1"
	tool treecmp --ignore work "$vol" "$T/view-old" >"$T/treecmp.out" 2>&1 ||
		fail "$type: the first set changed: $(head -c 3000 "$T/treecmp.out")"
	tool treecmp "$T/work1-$type" "$T/view-old/work" >"$T/treecmp.out" 2>&1 ||
		fail "$type: the first set's work/ changed: $(head -c 3000 "$T/treecmp.out")"
	identity "$T/view-old" | diff "$T/id1-$type" - >"$T/id.diff" ||
		fail "$type: the first set's identity changed: $(head -c 2000 "$T/id.diff")"
	umount "$T/view-old"

	stillfs delete "$id1" >/dev/null || fail "$type: delete $id1"
	[ ! -e "$(dirname "$(snapshot_path "$id2")")/../$id1.0" ] || fail "$type: $id1's copy is still there"
	check_set "$id2" "$vol" "$type: the second set after the first was deleted"
	stillfs delete "$id2" >/dev/null || fail "$type: delete $id2"
	[ -z "$(ls -A "$sto"/*/ 2>/dev/null)" ] || fail "$type: storage not empty: $(ls -A "$sto"/*/)"
}

one_volume ext4
one_volume xfs

### XFS: a clone costs no space
XV=$T/vol-xfs/data
head -c $((64 << 20)) /dev/urandom >"$XV/big"
sync
before=$(df --output=used -k "$XV" | tail -1)
id=$(create_set --no-writers --storage "$T/vol-xfs/storage" "$XV") || fail "create of the XFS volume"
sync
after=$(df --output=used -k "$XV" | tail -1)
[ $((after - before)) -lt 16384 ] ||
	fail "a copy of 64 MiB on XFS took $((after - before)) KiB: not cloned"
cmp "$XV/big" "$(snapshot_path "$id")/big" || fail "the clone of big differs"
log "ok: on XFS the 64 MiB file was cloned ($((after - before)) KiB used)"
stillfs delete "$id" >/dev/null || fail "delete $id"

### a file bind-mounted into the volume: kept as an empty file, never read
: >"$T/vol-ext4/bound"
mount --bind /etc/hostname "$T/vol-ext4/bound" || fail "bind mount of a file"
id=$(create_set --no-writers --storage "$T/sto-ext4/copies" "$T/vol-ext4") ||
	fail "create with a bind-mounted file"
umount "$T/vol-ext4/bound"
[ -f "$(snapshot_path "$id")/bound" ] && [ ! -s "$(snapshot_path "$id")/bound" ] ||
	fail "the bind-mounted file was not kept as an empty file"
stillfs delete "$id" >/dev/null || fail "delete $id"
rm "$T/vol-ext4/bound"
log "ok: a bind-mounted file is kept as an empty file, its content not read"

### a file that keeps changing is reported, and --strict fails the set
# (16 MiB, so that every copy of it takes a while for the writer to land in;
# on a busy machine the writer may still lose the processor for a whole copy,
# and a copy the file did not change under is rightly whole: up to 3 tries)
python3 - "$T/vol-ext4/hot" <<'EOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, b"x" * (16 << 20), 0)
open(sys.argv[1] + ".ready", "w").close()
while True:
    os.pwrite(fd, os.urandom(4096), 0)
EOF
hot=$!
track_pid "$hot"
wait_for 10 test -e "$T/vol-ext4/hot.ready"
id=""
for try in 1 2 3; do
	id=$(create_set --no-writers --storage "$T/sto-ext4/copies" --lock-timeout 0.2 "$T/vol-ext4" 2>"$T/err") ||
		fail "create with a file that keeps changing: $(cat "$T/err")"
	grep -qF "'hot' in volume '$T/vol-ext4' was not copied as of one instant" "$T/err" && break
	log "try $try: the copy of hot was whole (the writer did not run during it)"
	stillfs delete "$id" >/dev/null || fail "delete $id"
	id=""
done
[ -n "$id" ] || fail "create did not warn of the changing file in 3 tries: $(cat "$T/err")"
jq -e '.volumes[0].inconsistent | length == 1 and .[0].path == "hot"' \
	<<<"$(stillfs show --json "$id")" >/dev/null ||
	fail "show --json does not list hot as inconsistent: $(stillfs show --json "$id" | jq -c .volumes[0].inconsistent)"
stillfs show "$id" | grep -q "hot: " || fail "show does not list hot: $(stillfs show "$id")"
stillfs delete "$id" >/dev/null || fail "delete $id"
for try in 1 2 3; do
	rc=0
	id=$(timeout 120 "$STILLFS" --catalog "$CATALOG" create --no-writers --storage "$T/sto-ext4/copies" \
		--lock-timeout 0.2 --strict "$T/vol-ext4" 2>"$T/err") || rc=$?
	[ "$rc" -eq 0 ] || break
	log "try $try: --strict made a whole copy of hot (the writer did not run during it)"
	stillfs delete "$id" >/dev/null || fail "delete $id"
done
[ "$rc" -eq 1 ] || fail "--strict with a file that keeps changing exited $rc"
grep -q "could not be copied as of one instant (--strict)" "$T/err" ||
	fail "--strict gave no clear reason: $(cat "$T/err")"
[ -z "$(ls -A "$T/sto-ext4/copies/"*/)" ] || fail "the --strict failure left a copy"
kill "$hot"
rm -f "$T/vol-ext4/hot" "$T/vol-ext4/hot.ready"
log "ok: a file that kept changing was reported by create and show; --strict failed the set"

### refusals
V=$T/vol-ext4
mkdir -p "$V/sub" "$T/alias"
expect_refusal() {
	local what=$1 pattern=$2 rc=0
	shift 2
	timeout 60 "$STILLFS" --catalog "$CATALOG" create --no-writers "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -ne 0 ] || fail "$what: was accepted"
	grep -q -- "$pattern" "$T/err" || fail "$what: no '$pattern' in: $(cat "$T/err")"
	log "ok: refused $what: $(head -1 "$T/err")"
}
expect_refusal "storage inside the volume" "inside the volume" --storage "$V/sub/copies" "$V"
mount --bind "$V/sub" "$T/alias" || fail "bind mount"
expect_refusal "storage inside the volume through a bind mount" "inside the volume" \
	--storage "$T/alias/copies" "$V"
umount "$T/alias"
touch "$V/a-file"
expect_refusal "a volume that is a file" "not a directory" --storage "$T/sto-ext4/copies" "$V/a-file"
expect_refusal "/proc" "proc filesystem" --storage "$T/sto-ext4/copies" /proc
expect_refusal "an unknown provider" "no provider" --provider zfs "$V"
expect_refusal "btrfs on ext4" "not on a btrfs" --provider btrfs "$V"

### a full storage
SMALL=$(make_fs ext4 small 16M)
FULL=$T/vol-full
mkdir "$FULL"
head -c $((40 << 20)) /dev/urandom >"$FULL/big"
expect_refusal "a full storage" "storage is full" --storage "$SMALL/copies" "$FULL"
[ -z "$(find "$SMALL/copies" -mindepth 2)" ] || fail "the full storage keeps: $(find "$SMALL/copies" -mindepth 2 | head)"
state=$(stillfs list --json | jq -r --arg v "$FULL" '[.[] | select(.volumes[0].path == $v)][0].state')
[ "$state" = failed ] || fail "the set on a full storage is '$state', not failed"
log "ok: a full storage failed the set and kept nothing"

### a create killed while it copies
mkdir "$FULL/many"
for i in $(seq 300); do echo "$i" >"$FULL/many/$i"; done
rc=0
STILLFS_FAILPOINT=copy-midway timeout 120 "$STILLFS" --catalog "$CATALOG" create --no-writers \
	--storage "$T/sto-ext4/copies" "$FULL" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 137 ] || fail "the create with failpoint copy-midway exited $rc, not killed"
[ -n "$(ls -A "$T/sto-ext4/copies/"*/)" ] || fail "the killed create left no partial copy to clean"
stillfs gc >"$T/gc.out" 2>&1 || fail "gc after the kill: $(cat "$T/gc.out")"
left=$(ls -A "$T/sto-ext4/copies/"*/)
[ -z "$left" ] || fail "gc left copies no set owns: $left"
log "ok: a create killed in the middle of its copy left nothing after gc"

### a user swaps a directory for a symlink to /etc while sets are made
R=$T/vol-ext4/race
mkdir -p "$R/d"
for f in one two three; do echo "$f" >"$R/d/$f"; done
chown -R 65534:65534 "$R"
chmod o+x "$T" "$T/vol-ext4"
# shellcheck disable=SC2016 # the inner script's own expansions
setpriv --reuid=65534 --regid=65534 --clear-groups bash -c '
	cd "$1" || exit 1
	n=0
	end=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$end" ]; do
		mv d d.real && ln -s /etc d && rm d && mv d.real d || exit 1
		n=$((n + 1))
		[ $((n % 50)) -ne 1 ] || echo "$n" >swaps
	done' swapper "$R" &
swapper=$!
track_pid "$swapper"
wait_for 10 test -s "$R/swaps"
for i in $(seq 1 10); do
	id=$(create_set --no-writers --storage "$T/sto-ext4/copies" "$T/vol-ext4") ||
		fail "create $i during the swaps"
	snap=$(snapshot_path "$id")
	if find "$snap/race" \( -name passwd -o -name hostname -o -name os-release \) | grep -q .; then
		fail "set $i holds a file of /etc: $(find "$snap/race" | head)"
	fi
	if [ -L "$snap/race/d" ]; then
		[ "$(readlink "$snap/race/d")" = /etc ] || fail "set $i: odd symlink race/d"
	fi
	stillfs delete "$id" >/dev/null || fail "delete $id"
done
kill -0 "$swapper" 2>/dev/null || fail "the swapper stopped early"
kill "$swapper" 2>/dev/null || true
log "ok: 10 sets made while race/d was swapped for a symlink to /etc ($(cat "$R/swaps")+ swaps) hold nothing of /etc"
log "every check passed"
