#!/bin/bash
# verify: a set is indexed (create --index), copied out through the view with
# GNU tar and restored; verify passes on the restored directory and on the
# archive. Then one byte of one file is flipped, one file removed, one mode
# changed and one xattr dropped in the restored copy (mtimes put back, so
# that nothing else differs): verify reports exactly those four, on the
# directory and on an archive of it, and fails. --ignore leaves out what it
# names; a GNU-format archive without xattrs passes with --ignore xattrs.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd tar jq setfattr getfattr setfacl

fs=$(make_btrfs fs 1G)
vol=$fs/vol
make_subvolume "$vol"

# --- a tree with a bit of everything ---
mkdir -p "$vol/dir/sub" "$vol/empty-dir" "$vol/acl-dir"
for i in $(seq 1 40); do
	head -c $((i * 997)) /dev/urandom >"$vol/dir/f$i"
done
head -c 3000000 /dev/urandom >"$vol/dir/sub/big.bin"
: >"$vol/empty-file"
truncate -s 10M "$vol/sparse"
printf 'tail' | dd of="$vol/sparse" bs=1 seek=5000000 conv=notrunc status=none
echo target >"$vol/dir/g"
ln -s dir/g "$vol/link"
ln "$vol/dir/g" "$vol/hard"
mkfifo "$vol/fifo"
printf 'x' >"$vol/$(printf 'name\twith\ttabs')"
setfattr -n user.one -v 1 "$vol/dir/f1"
setfattr -n user.two -v 2 "$vol/dir/f2"
setfattr -n user.linked -v yes "$vol/dir/g"
setfacl -m u:1234:rw "$vol/dir/f3"
setfacl -d -m u:1234:rwx "$vol/acl-dir"
chown 1234:5678 "$vol/dir/f4"
chmod 640 "$vol/dir/f5"

id=$(create_set --no-writers --index "$vol") || fail "stillfs create --index failed"
stillfs show --json "$id" >"$T/show.json"
name=$(jq -er '.volumes[0].name' "$T/show.json")
token=$(jq -er .token "$T/show.json")
snap=$(snapshot_path "$id")
entries=$(stillfs show --json "$id" | jq -er '.volumes[0].manifest.entries') ||
	fail "show --json has no manifest: $(cat "$T/show.json")"
want=$(cd "$snap" && find . | wc -l)
[ "$entries" = "$want" ] || fail "the manifest holds $entries entries, the snapshot $want"
log "create --index: $entries entries in the manifest, as in the snapshot"

view=$T/view
mount_view "$view"
tar --xattrs --xattrs-include='*' --acls --format=posix -C "$view/$token/$name" -cf "$T/backup.tar" . ||
	fail "tar through the view failed"
restore=$fs/restore
mkdir "$restore"
tar --xattrs --xattrs-include='*' --acls -xpf "$T/backup.tar" -C "$restore" || fail "tar -x failed"

expect_match() { # DESCRIPTION VERIFY-ARGS...
	local what=$1
	shift
	stillfs verify "$@" >"$T/out" 2>"$T/err" ||
		fail "verify of $what failed: $(cat "$T/out" "$T/err")"
	[ ! -s "$T/out" ] || fail "verify of $what printed problems: $(cat "$T/out")"
	log "verify of $what: $(cat "$T/err")"
}
expect_match "the restored directory" "$id" "$restore"
expect_match "the archive" "$id" --tar "$T/backup.tar"
gzip -k "$T/backup.tar"
expect_match "the gzipped archive, read from standard input" "$id" --tar - <"$T/backup.tar.gz"

# --- four problems, nothing else ---
f=$restore/dir/f10
printf '\377' | dd of="$f" bs=1 seek=123 conv=notrunc status=none
touch -r "$snap/dir/f10" "$f"
rm "$restore/dir/f11"
touch -r "$snap/dir" "$restore/dir"
chmod 600 "$restore/dir/f12"
setfattr -x user.two "$restore/dir/f2"
cat >"$T/want" <<EOF
content	dir/f10	content
metadata	dir/f12	mode
metadata	dir/f2	xattrs
missing	dir/f11
EOF

expect_four() { # DESCRIPTION VERIFY-ARGS...
	local what=$1 rc=0
	shift
	stillfs verify "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = 1 ] || fail "verify of $what exited $rc, not 1: $(cat "$T/out" "$T/err")"
	sort "$T/out" >"$T/got"
	diff -u "$T/want" "$T/got" >"$T/diff" || fail "verify of $what reported otherwise: $(cat "$T/diff")"
	grep -q '1 missing, 0 extra, 1 with different content, 2 with different metadata' "$T/err" ||
		fail "verify of $what: the summary is wrong: $(cat "$T/err")"
	log "verify of $what: the four problems and nothing else"
}
expect_four "the damaged directory" "$id" "$restore"
tar --xattrs --xattrs-include='*' --acls --format=posix -C "$restore" -cf "$T/damaged.tar" . || fail "tar of the damaged copy failed"
expect_four "an archive of the damaged directory" "$id" --tar "$T/damaged.tar"

stillfs verify --ignore mode,xattrs "$id" "$restore" >"$T/out" 2>"$T/err" && fail "verify --ignore mode,xattrs passed a copy with a missing file"
[ "$(cut -f1 "$T/out" | sort | tr '\n' ' ')" = "content missing " ] ||
	fail "verify --ignore mode,xattrs reported: $(cat "$T/out")"
log "verify --ignore mode,xattrs: only the content and the missing file"

# --- a GNU-format archive: whole-second mtimes, no xattrs or ACLs ---
tar --format=gnu -C "$view/$token/$name" -cf "$T/gnu.tar" . || fail "tar --format=gnu failed"
expect_match "a GNU-format archive without xattrs, --ignore xattrs" "$id" --ignore xattrs --tar "$T/gnu.tar"
stillfs verify "$id" --tar "$T/gnu.tar" >"$T/out" 2>&1 && fail "verify passed an archive that lost xattrs and ACLs"
[ "$(grep -c xattrs "$T/out")" = 6 ] || fail "verify of the GNU archive should name the 6 entries with xattrs or ACLs: $(cat "$T/out")"

# --- an archive of the history directory: --prefix ---
tar --xattrs --xattrs-include='*' --acls --format=posix -C "$view/$token" -cf "$T/prefixed.tar" "$name" || fail "tar of the set directory failed"
expect_match "an archive made from the set's directory, --prefix" "$id" --prefix "$name" --tar "$T/prefixed.tar"

# --- what is not a copy of the set ---
stillfs verify "$id" "$T/nonexistent" >"$T/out" 2>"$T/err" && fail "verify of a missing directory passed"
grep -q "cannot verify" "$T/err" || fail "verify of a missing directory: $(cat "$T/err")"
printf 'not an archive' >"$T/junk.tar"
stillfs verify "$id" --tar "$T/junk.tar" >"$T/out" 2>"$T/err" && fail "verify of junk passed"
head -c 20000 "$T/backup.tar" >"$T/truncated.tar"
stillfs verify "$id" --tar "$T/truncated.tar" >"$T/out" 2>"$T/err" && fail "verify of a truncated archive passed"
log "a missing directory, junk and a truncated archive fail: $(tail -n 1 "$T/err")"
log "PASS"
