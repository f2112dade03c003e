#!/bin/bash
# treecmp-selftest: the comparator that judges every copy test must see every
# kind of difference. Builds a tree with mktree.sh, checks that treecmp finds
# an exact copy equal (a btrfs snapshot, and a cp -a copy on tmpfs), then
# makes one change at a time in a fresh snapshot of the tree and checks that
# treecmp exits 1 and reports that change, and only that change.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd btrfs setfattr setfacl python3 mount
MKTREE=$(dirname "$(readlink -f "$0")")/../tools/mktree.sh
[ -x "$MKTREE" ] || fail "no $MKTREE"

MNT=$(make_btrfs fs 1G)
make_subvolume "$MNT/a"
"$MKTREE" "$MNT/a" || fail "mktree.sh failed"
# reading must not move atimes, or --atime could not compare equal trees
mount -o remount,noatime "$MNT" || fail "remount noatime"
A=$MNT/a
M=$MNT/m

# expect_rc RC TREECMP-ARGS...: runs treecmp, fails unless it exits RC.
expect_rc() {
	local want=$1 rc=0 out
	shift
	out=$(tool treecmp "$@" 2>&1) || rc=$?
	[ "$rc" -eq "$want" ] || fail "treecmp $* exited $rc, expected $want; output:
$out"
}

# An exact copy: a snapshot (every byte and inode number the same) ...
btrfs -q subvolume snapshot "$A" "$MNT/copy" >/dev/null || fail "snapshot"
expect_rc 0 --check-dino "$A" "$MNT/copy"
expect_rc 0 --atime "$A" "$MNT/copy"
btrfs -q subvolume delete "$MNT/copy" >/dev/null

# ... and a cp -a copy on another filesystem (other inode numbers, other
# directory sizes and link counts). cp cannot copy the directory chain deeper
# than PATH_MAX ("File name too long"), so that one is left out on both sides.
mkdir "$T/tmpfs"
mount -t tmpfs -o size=256M tmpfs "$T/tmpfs" || fail "mount tmpfs"
C=$T/tmpfs/copy
mkdir "$C"
for e in "$A"/* "$A"/.[!.]*; do
	[ -e "$e" ] || [ -L "$e" ] || continue
	[ "$e" = "$A/deep" ] && continue
	cp -a "$e" "$C/" || fail "cp -a $e"
done
chown --reference="$A" "$C"
chmod --reference="$A" "$C"
touch -r "$A" "$C"
expect_rc 0 --check-dino --ignore deep "$A" "$C"
expect_rc 1 "$A" "$C"

# mtime_of PATH / set_mtime PATH TIME: mtime with nanoseconds, kept across a
# change so that the change alone shows.
mtime_of() { stat -c %.9Y -- "$1"; }
set_mtime() { touch -h -m -d "@$2" -- "$1"; }
# keep_mtime PATH COMMAND...: runs COMMAND, then puts PATH's mtime back.
keep_mtime() {
	local p=$1 t
	shift
	t=$(mtime_of "$p")
	"$@"
	set_mtime "$p" "$t"
}
# flip FILE OFFSET: inverts one byte, keeping the file's mtime.
flip() {
	local b t
	t=$(mtime_of "$1")
	b=$(od -An -tu1 -j "$2" -N1 -- "$1" | tr -d ' ')
	[ -n "$b" ] || fail "flip: no byte at $2 in $1"
	# shellcheck disable=SC2059 # the \x escape is the point
	printf "\\x$(printf %02x $((b ^ 0xff)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
	set_mtime "$1" "$t"
}
# bump_time PATH WHICH: adds 1 ns to PATH's atime or mtime, not following symlinks.
bump_time() {
	python3 - "$1" "$2" <<-'EOF'
		import os, sys
		p, which = sys.argv[1], sys.argv[2]
		st = os.lstat(p)
		a, m = st.st_atime_ns, st.st_mtime_ns
		if which == "atime":
		    a += 1
		else:
		    m += 1
		os.utime(p, ns=(a, m), follow_symlinks=False)
	EOF
}

# check NAME REQUIRED [ALLOWED] [-- TREECMP-OPTIONS...]: runs the function
# mut_NAME in a fresh writable snapshot of the tree, then requires treecmp to
# exit 1 with at least one line matching the extended regex REQUIRED and no
# line matching neither REQUIRED nor ALLOWED.
check() {
	local name=$1 required=$2 allowed='^$' out rc=0 extra
	shift 2
	if [ $# -gt 0 ] && [ "$1" != -- ]; then
		allowed=$1
		shift
	fi
	[ $# -gt 0 ] && shift
	btrfs -q subvolume snapshot "$A" "$M" >/dev/null || fail "snapshot"
	(cd "$M" && "mut_$name") || fail "$name: the change itself failed"
	out=$(tool treecmp "$@" "$A" "$M") || rc=$?
	btrfs -q subvolume delete "$M" >/dev/null || fail "subvolume delete"
	[ "$rc" -eq 1 ] || fail "$name: treecmp exited $rc, expected 1; output:
$out"
	grep -qE -- "$required" <<<"$out" ||
		fail "$name: no line matching '$required' in:
$out"
	extra=$(grep -vE -- "$required" <<<"$out" | grep -vE -- "$allowed" || true)
	[ -z "$extra" ] || fail "$name: unexpected lines:
$extra"
	log "ok: $name: $(head -n1 <<<"$out")"
}

# check_equal NAME [TREECMP-OPTIONS...]: the change must not be reported.
check_equal() {
	local name=$1 out rc=0
	shift
	btrfs -q subvolume snapshot "$A" "$M" >/dev/null || fail "snapshot"
	(cd "$M" && "mut_$name") || fail "$name: the change itself failed"
	out=$(tool treecmp "$@" "$A" "$M") || rc=$?
	btrfs -q subvolume delete "$M" >/dev/null || fail "subvolume delete"
	[ "$rc" -eq 0 ] || fail "$name with $*: treecmp exited $rc, expected 0; output:
$out"
	log "ok: $name with ${*:-the defaults} is not reported"
}

mut_flip_byte() { flip files/f1m 1000000; }
check flip_byte '^files/f1m: content at byte 1000000: 0x[0-9a-f]{2} vs 0x[0-9a-f]{2}$'

mut_flip_first() { flip files/one 0; }
check flip_first '^files/one: content at byte 0: '

mut_flip_hole() { flip sparse/dhdh 500000; }
check flip_hole '^sparse/dhdh: content at byte 500000: 0x00 vs 0xff$'

mut_flip_tail() { flip sparse/tail 600002; }
check flip_tail '^sparse/tail: content at byte 600002: '

mut_flip_deep() {
	cd -P deep || return
	while [ ! -f bottom ]; do cd -P ./*p/ || return; done
	flip bottom 4999
}
check flip_deep '^deep/(01p+/)(..p+/)+bottom: content at byte 4999: '

mut_chmod() { chmod 0640 modes/f0600; }
check chmod '^modes/f0600: mode: 0600 vs 0640$'

mut_drop_suid() { chmod 0755 modes/f4755; }
check drop_suid '^modes/f4755: mode: 4755 vs 0755$'

mut_sticky() { chmod 0777 modes/sticky; }
check sticky '^modes/sticky: mode: 1777 vs 0777$'

mut_chown() { chown 1235 owners/f-1234-5678; }
check chown '^owners/f-1234-5678: uid: 1234 vs 1235$'
check_equal chown --no-owner

mut_chgrp_symlink() { chown -h :4001 owners/symlink; }
check chgrp_symlink '^owners/symlink: gid: 4000 vs 4001$'

mut_mtime() { bump_time files/text mtime; }
check mtime '^files/text: mtime: [-0-9: ]+\.[0-9]{9} UTC vs [-0-9: ]+\.[0-9]{9} UTC$'

mut_mtime_symlink() { bump_time symlinks/relative mtime; }
check mtime_symlink '^symlinks/relative: mtime: '

mut_mtime_dir() { bump_time links mtime; }
check mtime_dir '^links: mtime: '
check_equal mtime_dir --no-mtime-dirs

mut_mtime_root() { bump_time . mtime; }
check mtime_root '^\.: mtime: '

mut_atime() { bump_time files/text atime; }
check_equal atime
check atime '^files/text: atime: ' -- --atime

mut_size() { keep_mtime files/f4097 truncate -s 4096 files/f4097; }
check size '^files/f4097: size: 4097 vs 4096$'

mut_xattr_value() { setfattr -n user.small -v hellp xattr/file; }
check xattr_value '^xattr/file: xattr user.small: 0x6f at byte 4 vs 0x70 at byte 4$'
check_equal xattr_value --no-xattrs

mut_xattr_big() {
	python3 -c 'import os; v = bytearray(os.getxattr("xattr/file", "user.big")); v[-1] ^= 1; os.setxattr("xattr/file", "user.big", bytes(v))'
}
check xattr_big '^xattr/file: xattr user.big: 0x.. at byte 3071 vs '

mut_xattr_symlink() { setfattr -h -n trusted.s -v on-a-symlinK xattr/symlink; }
check xattr_symlink '^xattr/symlink: xattr trusted.s: '

mut_xattr_removed() { setfattr -x user.d xattr/dir; }
check xattr_removed '^xattr/dir: xattr user.d: present vs missing$'

mut_xattr_added() { setfattr -n trusted.new -v 1 xattr/fifo; }
check xattr_added '^xattr/fifo: xattr trusted.new: missing vs present$'

mut_xattr_empty() { setfattr -n user.empty -v x xattr/file; }
check xattr_empty '^xattr/file: xattr user.empty: 0 bytes vs 1 bytes$'

# setfacl -b also puts the group class bits back from the mask to the group entry
mut_acl_removed() { setfacl -b acl/file; }
check acl_removed '^acl/file: xattr system.posix_acl_access: present vs missing$' '^acl/file: mode: '

mut_acl_default_removed() { setfacl -k acl/dir; }
check acl_default_removed '^acl/dir: xattr system.posix_acl_default: present vs missing$'

mut_acl_entry() { setfacl -n -m u:1234:r-- acl/file; }
check acl_entry '^acl/file: xattr system.posix_acl_access: '

mut_retarget() {
	keep_mtime symlinks keep_mtime symlinks/relative ln -sfn ../files/two symlinks/relative
}
check retarget "^symlinks/relative: symlink target: '../files/one' vs '../files/two'$" '^symlinks/relative: hard link: '

mut_break_link() {
	keep_mtime links/b sh -c 'cp -a links/b/h2-second links/b/tmp && mv -f links/b/tmp links/b/h2-second'
}
check break_link "^links/b/h2-second: hard link: same inode as 'links/a/h2' vs own inode$" ': nlink: 2 vs 1$'
check break_link "^links/b/h2-second: hard link: " -- --no-nlink

mut_join_link() {
	keep_mtime names ln -f files/empty names/-leading-dash
}
check join_link "^names/-leading-dash: hard link: own inode vs same inode as 'files/empty'$" ': (nlink: 1 vs 2|mtime: .*)$'

mut_extra() { keep_mtime files touch files/extra; }
check extra '^files/extra: entry: missing vs present$'
check_equal extra --ignore files/extra

mut_extra_top() { keep_mtime . touch extra-top; }
check_equal extra_top --ignore extra-top

mut_removed() { keep_mtime files rm files/f4095; }
check removed '^files/f4095: entry: present vs missing$'

mut_removed_deep_dir() { keep_mtime deep rm -rf deep/01*; }
check removed_deep_dir '^deep/01p+: entry: present vs missing$'

mut_rename_name() {
	local l
	l=$(printf 'L%.0s' {1..254})
	keep_mtime names mv "names/${l}L" "names/${l}M"
}
check rename_name '^names/L{254}[LM]: entry: (present vs missing|missing vs present)$'

mut_rename_bytes() {
	local n
	n=$(printf '\x80\x81')
	# shellcheck disable=SC2016 # expanded by sh
	keep_mtime names sh -c 'for f in names/"$1"*; do mv "$f" "$f-"; done' sh "$n"
}
check rename_bytes '^names/\\x80\\x81(\\x[89ab][0-9a-f])+-?: entry: (present vs missing|missing vs present)$'

mut_device() {
	keep_mtime special sh -c 'rm special/chr && mknod special/chr c 240 301'
	touch -h -r "$A/special/chr" special/chr
}
check device '^special/chr: device: 240:300 vs 240:301$'

mut_type() {
	keep_mtime special sh -c 'rm special/fifo && : >special/fifo'
	touch -h -r "$A/special/fifo" special/fifo
}
check type '^special/fifo: type: fifo vs regular file$'

mut_nlink_outside() { keep_mtime . ln files/f65543 f65543-outside-link; }
check nlink_outside '^files/f65543: nlink: 1 vs 2$' '^f65543-outside-link: entry: missing vs present$'

# errors: exit 2
expect_rc 2 "$A" "$T/does-not-exist"
expect_rc 2 --no-such-option "$A" "$A"
expect_rc 2 "$A"

log "all treecmp checks passed"
