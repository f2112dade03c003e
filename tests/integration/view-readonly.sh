#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The view can only be read. Through a mounted view, every kind of change
# (write, append, truncate, create, mkdir, rmdir, unlink, rename, chmod, chown,
# utimes, set and remove extended attributes and ACLs, hard and symbolic links,
# mknod) fails with EROFS, and the snapshot beneath is unchanged afterwards,
# also when the mount's read-only flag is taken away (the daemon itself must
# refuse; writes to file data then fail with EIO, as the kernel reports the
# daemon's refusal of a WRITE, and opening for writing succeeds, as the view's
# files are read without OPEN requests). And it can be read only as the original permissions allowed: an
# unprivileged user may read through the view exactly what it may read on the
# live volume (mode bits, group membership, a POSIX ACL), no more, no less.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd jq setpriv setfattr getfattr setfacl getfacl mknod truncate sha256sum
USER_ID=65534
GROUP_ID=1234

# not in $(...): make_btrfs must record its loop device in this shell for cleanup
make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"
# the unprivileged user must be able to walk down to the volume and the view
chmod 0755 "$T" "$fs" "$vol"

echo "public data" >"$vol/public"
chmod 0644 "$vol/public"
echo "root only" >"$vol/secret"
chmod 0600 "$vol/secret"
echo "group 1234 only" >"$vol/group"
chown 0:"$GROUP_ID" "$vol/group"
chmod 0640 "$vol/group"
mkdir "$vol/private"
echo "inside a 0700 directory" >"$vol/private/file"
chmod 0644 "$vol/private/file"
chmod 0700 "$vol/private"
echo "readable by an ACL" >"$vol/acl"
chmod 0600 "$vol/acl"
setfacl -m "u:$USER_ID:r" "$vol/acl" || skip "the btrfs mount does not take POSIX ACLs"
mkdir "$vol/dir" "$vol/emptydir"
echo "in dir" >"$vol/dir/file"
setfattr -n user.note -v kept "$vol/public" || skip "no user extended attributes on btrfs"
ln -s public "$vol/link"
mkfifo "$vol/fifo"

id=$(create_set "$vol") || fail "stillfs create failed"
json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
token=$(jq -er .token <<<"$json") || fail "no token in: $json"
name=$(jq -er '.volumes[0].name' <<<"$json") || fail "no volume name in: $json"
snap=$(snapshot_path "$id") || fail "no snapshot path for set $id"
view=$T/view
mount_view "$view"
d=$view/$token/$name
[ -d "$d" ] || fail "$d is not a directory in the view"
cmp "$d/public" "$vol/public" || fail "$d/public does not show the volume's file"

# Everything about the snapshot that a change could touch.
record() {
	(
		cd "$1" &&
			find . -printf '%p %y %m %U %G %s %n %i %T@ %C@ %l\n' | sort &&
			find . -type f -exec sha256sum {} + | sort -k 2 &&
			getfattr -R -h -d -m - --absolute-names . 2>/dev/null | sort
	)
}
snap_before=$(record "$snap") || fail "cannot read the snapshot $snap"
view_before=$(record "$d") || fail "cannot read the view $d"

# must_erofs WHAT COMMAND...: COMMAND must fail and say "Read-only file system".
erofs_problems=()
where=
must_erofs() {
	local what=$1 rc=0 out
	shift
	out=$(timeout 30 "$@" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then
		erofs_problems+=("$where: $what: '$*' succeeded")
	elif [ "$rc" -eq 124 ]; then
		erofs_problems+=("$where: $what: '$*' hung")
	elif ! grep -q 'Read-only file system' <<<"$out"; then
		erofs_problems+=("$where: $what: '$*' failed otherwise: $out")
	fi
	# the refusal must not hurt the daemon
	if ! out=$(timeout 10 ls "$view" 2>&1); then
		for p in "${erofs_problems[@]}"; do
			log "  - $p"
		done
		fail "$where: the view stopped answering after $what ('$*'): ls $view: $out"
	fi
}

# must_refuse_write WHAT COMMAND...: on a view made read-write, a write of file
# data must fail, with EROFS or EIO.
must_refuse_write() {
	local what=$1 rc=0 out
	shift
	out=$(timeout 30 "$@" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then
		erofs_problems+=("$where: $what: '$*' succeeded")
	elif ! grep -q -e 'Read-only file system' -e 'Input/output error' -e 'I/O error' <<<"$out"; then
		erofs_problems+=("$where: $what: '$*' failed otherwise: $out")
	fi
}

# try_every_change WHERE [made-rw]
# shellcheck disable=SC2016 # the sh -c scripts expand their own $1
try_every_change() {
	where=$1
	if [ "${2:-}" = made-rw ]; then
		must_refuse_write write sh -c 'echo changed >"$1"' sh "$d/public"
		must_refuse_write append sh -c 'echo more >>"$1"' sh "$d/public"
		must_refuse_write dd dd if=/dev/zero of="$d/public" bs=1 count=1 conv=notrunc status=none
	else
		must_erofs write sh -c 'echo changed >"$1"' sh "$d/public"
		must_erofs append sh -c 'echo more >>"$1"' sh "$d/public"
		must_erofs open-rw sh -c 'exec 3<>"$1"' sh "$d/public"
		must_erofs dd dd if=/dev/zero of="$d/public" bs=1 count=1 conv=notrunc status=none
	fi
	must_erofs truncate truncate -s 0 "$d/public"
	must_erofs truncate-grow truncate -s 1M "$d/public"
	must_erofs create sh -c ': >"$1"' sh "$d/newfile"
	must_erofs create-touch touch "$d/newfile2"
	must_erofs create-root sh -c ': >"$1"' sh "$view/newfile"
	must_erofs mkdir mkdir "$d/newdir"
	must_erofs mkdir-root mkdir "$view/newdir"
	must_erofs mkdir-set mkdir "$view/$token/newdir"
	must_erofs rmdir rmdir "$d/emptydir"
	must_erofs rmdir-set rmdir "$view/$token"
	must_erofs unlink unlink "$d/public"
	must_erofs unlink-symlink unlink "$d/link"
	must_erofs unlink-latest unlink "$view/latest"
	must_erofs unlink-fifo unlink "$d/fifo"
	must_erofs rename mv -T "$d/public" "$d/renamed"
	must_erofs rename-dir mv -T "$d/dir" "$d/dir2"
	must_erofs rename-over mv -T "$d/dir/file" "$d/public"
	must_erofs rename-set mv -T "$view/$token" "$view/@GMT-2000.01.01-00.00.00"
	must_erofs chmod chmod 0777 "$d/public"
	must_erofs chmod-dir chmod 0777 "$d/dir"
	must_erofs chown chown "$USER_ID" "$d/public"
	must_erofs chgrp chgrp "$GROUP_ID" "$d/public"
	must_erofs utimes touch -d @0 "$d/public"
	must_erofs utimes-now touch "$d/public"
	must_erofs utimes-dir touch "$d/dir"
	must_erofs setfattr setfattr -n user.other -v x "$d/public"
	must_erofs setfattr-replace setfattr -n user.note -v changed "$d/public"
	must_erofs removexattr setfattr -x user.note "$d/public"
	must_erofs setfacl setfacl -m "u:$USER_ID:rw" "$d/public"
	must_erofs removeacl setfacl -b "$d/acl"
	must_erofs link ln "$d/public" "$d/hardlink"
	must_erofs symlink ln -s public "$d/newlink"
	must_erofs mknod-fifo mknod "$d/newfifo" p
	must_erofs mknod-char mknod "$d/newnull" c 1 3
	log "$where: tried every kind of change"
}

try_every_change "read-only mount"

if [ "${#erofs_problems[@]}" -gt 0 ]; then
	for p in "${erofs_problems[@]}"; do
		log "  - $p"
	done
	fail "${#erofs_problems[@]} change(s) through the view did not fail with EROFS"
fi

# nothing changed, beneath or as shown
snap_after=$(record "$snap") || fail "cannot read the snapshot $snap afterwards"
[ "$snap_after" = "$snap_before" ] ||
	fail "the snapshot changed: $(diff <(echo "$snap_before") <(echo "$snap_after") | grep '^[<>]')"
view_after=$(record "$d") || fail "cannot read the view afterwards"
[ "$view_after" = "$view_before" ] ||
	fail "the view changed: $(diff <(echo "$view_before") <(echo "$view_after") | grep '^[<>]')"
for f in newfile newfile2 newdir hardlink newlink newfifo newnull renamed; do
	if [ -e "$d/$f" ] || [ -L "$d/$f" ]; then fail "$d/$f exists after a refused change"; fi
	if [ -e "$snap/$f" ] || [ -L "$snap/$f" ]; then fail "$snap/$f exists after a refused change"; fi
done
[ "$(cat "$d/public")" = "public data" ] || fail "$d/public changed"
[ "$(getfattr --absolute-names --only-values -n user.note "$d/public")" = kept ] || fail "user.note changed in the view"

# --- permissions: the view allows a user exactly what the volume allows ---
as_user() { setpriv --reuid="$USER_ID" --regid="$USER_ID" --clear-groups -- "$@"; }
as_member() { setpriv --reuid="$USER_ID" --regid="$USER_ID" --groups="$GROUP_ID" -- "$@"; }
as_user test -x "$d" || fail "uid $USER_ID cannot reach $d at all: the view root or a set directory is not searchable"
as_user cat "$vol/public" >/dev/null || fail "uid $USER_ID cannot read the live $vol/public: the test setup is wrong"

perm_problems=()
as_user_cmd=(setpriv --reuid="$USER_ID" --regid="$USER_ID" --clear-groups --)
as_member_cmd=(setpriv --reuid="$USER_ID" --regid="$USER_ID" --groups="$GROUP_ID" --)
# access EXPECT WHO OP PATH: as WHO (user: uid 65534 in no group; member: the
# same in group 1234), OP (read, list, stat, enter) of PATH below the volume
# must give EXPECT (yes/no) on the live volume and through the view alike.
access() {
	local expect=$1 who=$2 op=$3 rel=$4 base got cmd prefix
	case $who in
	user) prefix=("${as_user_cmd[@]}") ;;
	member) prefix=("${as_member_cmd[@]}") ;;
	esac
	for base in "$vol" "$d"; do
		# shellcheck disable=SC2016 # sh expands its own $1
		case $op in
		read) cmd=(cat -- "$base/$rel") ;;
		list) cmd=(ls -- "$base/$rel") ;;
		stat) cmd=(stat -- "$base/$rel") ;;
		enter) cmd=(sh -c 'cd "$1"' sh "$base/$rel") ;;
		esac
		if timeout 30 "${prefix[@]}" "${cmd[@]}" >/dev/null 2>&1; then got=yes; else got=no; fi
		if [ "$got" != "$expect" ]; then
			perm_problems+=("$who may $op $base/$rel: '$got', expected '$expect'")
		fi
	done
}

access yes user read public
access no user read secret
access no user read group
access yes member read group
access no member read secret
access no user list private
access no user enter private
access no user read private/file
access no user stat private/file
access yes user stat private
access yes user read acl
access yes user list dir
access yes user read dir/file
access yes user read link

# what was read is the content
[ "$(as_user cat "$d/acl")" = "readable by an ACL" ] || fail "uid $USER_ID read the wrong bytes from $d/acl"
[ "$(as_member cat "$d/group")" = "group 1234 only" ] || fail "group $GROUP_ID read the wrong bytes from $d/group"
# the ACL itself shows through the view
getfacl -cpn "$d/acl" 2>/dev/null | grep -q "^user:$USER_ID:r--" ||
	perm_problems+=("the ACL of acl does not show through the view: $(getfacl -cpn "$d/acl" 2>&1)")

# the unprivileged user cannot change anything either
for op in "sh -c 'echo x >>$d/public'" "touch $d/newfile" "mkdir $d/newdir"; do
	if out=$(eval "as_user $op" 2>&1); then
		perm_problems+=("uid $USER_ID could: $op")
	fi
done

if [ "${#perm_problems[@]}" -gt 0 ]; then
	for p in "${perm_problems[@]}"; do
		log "  - $p"
	done
	fail "${#perm_problems[@]} permission check(s) differ between the volume and the view"
fi
log "permissions: the view allows uid $USER_ID exactly what the volume allows"

# The kernel refuses most of the above because the mount is read-only. Take
# that flag away where the kernel allows it: the daemon itself must refuse.
# (-i: no mount helper; the kernel's FUSE remount only flips the flag)
if mount -i -o remount,rw "$view" 2>/dev/null; then
	if awk -v m="$view" '$5 == m { split($6, o, ","); exit o[1] != "rw" }' /proc/self/mountinfo; then
		try_every_change "mount made read-write" made-rw
	else
		log "the view stayed read-only after 'mount -o remount,rw'"
	fi
	mount -i -o remount,ro "$view" 2>/dev/null || true
else
	log "cannot remount the view read-write (the kernel keeps it read-only): skipping that part"
fi

if [ "${#erofs_problems[@]}" -gt 0 ]; then
	for p in "${erofs_problems[@]}"; do
		log "  - $p"
	done
	fail "${#erofs_problems[@]} change(s) through the view did not fail with EROFS"
fi
snap_after=$(record "$snap") || fail "cannot read the snapshot $snap at the end"
[ "$snap_after" = "$snap_before" ] || fail "the snapshot changed at the end"
view_after=$(record "$d") || fail "cannot read the view at the end"
[ "$view_after" = "$view_before" ] || fail "the view changed at the end"
log "ok"
