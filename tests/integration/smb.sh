#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# smb: the view served by Samba.
#
# A private smbd (loopback only, its own port, every directory under $T, a
# Samba user for root) serves two shares:
# - [view]: the view's current/, where a set is pinned. smbclient's tar mode
#   (the NT-backup-style client) archives it; GNU tar extracts the archive and
#   every regular file and directory of the snapshot is there with its name,
#   size and bytes. What smbclient's tar does not carry (symlinks, owners,
#   modes, xattrs...) is logged, not failed.
# - [live]: the live volume, with vfs_shadow_copy2 over the view
#   (shadow:snapdir = the view, shadow:snapsharepath = the volume's name in
#   each set). Two sets with different bytes of a file: allinfo lists both as
#   previous versions, by their @GMT names; the file read through each
#   @GMT-... path is that set's bytes; the plain path is the live bytes.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd jq btrfs cmp diff tar ss smbd smbclient smbpasswd testparm
[ -e /dev/fuse ] || skip "no /dev/fuse"

# smbd is stopped before lib.sh's cleanup unmounts the view it serves
smb_pidfile=
# descendants PID: the pids of PID's children, their children...
descendants() {
	local c cs
	read -ra cs < <(cat /proc/"$1"/task/*/children 2>/dev/null) || true
	for c in "${cs[@]}"; do
		echo "$c"
		descendants "$c"
	done
}
_smb_cleanup() {
	local rc=$? pid p kids=()
	set +e
	trap '' INT TERM
	if [ -n "$smb_pidfile" ] && [ -s "$smb_pidfile" ]; then
		pid=$(cat "$smb_pidfile")
		# smbd's children (one per connection, samba-dcerpcd and its
		# helpers): those still there after smbd ends are killed, if they
		# still run with this test's config (not a reused pid)
		mapfile -t kids < <(descendants "$pid")
		if kill -TERM "$pid" 2>/dev/null; then
			timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null ||
				kill -KILL "$pid" 2>/dev/null
		fi
		for p in "${kids[@]}"; do
			if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$T/smb.conf"; then
				kill -KILL "$p" 2>/dev/null
			fi
		done
	fi
	(exit "$rc")
	_cleanup
}
trap _smb_cleanup EXIT

make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"

# --- a volume with a bit of everything ---
echo "first version" >"$vol/f"
mkdir -p "$vol/dir/sub" "$vol/empty-dir"
echo inner >"$vol/dir/g"
head -c 1048576 /dev/urandom >"$vol/dir/sub/random.bin"
: >"$vol/empty-file"
echo spaced >"$vol/name with spaces"
printf 'umlaut\n' >"$vol/$(printf 'caf\303\251')"
echo private >"$vol/mode600"
chmod 600 "$vol/mode600"
chown 1234:5678 "$vol/mode600"
ln -s dir/g "$vol/link-to-g"
ln "$vol/dir/g" "$vol/hardlink-to-g"
xattr_ok=0
if command -v setfattr >/dev/null && setfattr -n user.stillfs -v hello "$vol/f" 2>/dev/null; then
	xattr_ok=1
fi

set1=$(create_set "$vol") || fail "stillfs create of set 1 failed"
view=$T/view
mount_view "$view"
show1=$(stillfs show --json "$set1")
token1=$(jq -er .token <<<"$show1")
name=$(jq -er '.volumes[0].name' <<<"$show1")
snap1=$(snapshot_path "$set1") || fail "no snapshot for set 1"
timeout 60 "$STILLFS" --catalog "$CATALOG" pin --view "$view" "$set1" 2>"$T/pin.err" ||
	fail "stillfs pin $set1 failed: $(cat "$T/pin.err")"
[ -d "$view/current/$name" ] || fail "current/ has no $name after pin: $(ls -A "$view/current" 2>&1)"

# --- smbd ---
port=
for p in $(seq 4450 4499); do
	if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
		port=$p
		break
	fi
done
[ -n "$port" ] || fail "no free port in 4450..4499"
S=$T/samba
mkdir -p "$S/private" "$S/lock" "$S/state" "$S/cache" "$S/pid" "$S/ncalrpc"
chmod 700 "$S/private"
cat >"$T/smb.conf" <<EOF
[global]
	private dir = $S/private
	lock directory = $S/lock
	state directory = $S/state
	cache directory = $S/cache
	pid directory = $S/pid
	ncalrpc dir = $S/ncalrpc
	log file = $S/log.%m
	max log size = 0
	log level = 1
	interfaces = lo
	bind interfaces only = yes
	smb ports = $port
	disable netbios = yes
	server role = standalone server
	map to guest = Bad User
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes

[view]
	path = $view/current
	read only = yes

[live]
	path = $vol
	read only = yes
	vfs objects = shadow_copy2
	shadow:snapdir = $view
	shadow:snapsharepath = $name
	shadow:format = @GMT-%Y.%m.%d-%H.%M.%S
	shadow:sort = desc
	shadow:localtime = no
	shadow:snapdirseverywhere = no
EOF
testparm -s "$T/smb.conf" >"$T/testparm.out" 2>&1 || fail "testparm rejects the config: $(cat "$T/testparm.out")"
pass=stillfs-test-$RANDOM$RANDOM
printf '%s\n%s\n' "$pass" "$pass" | smbpasswd -c "$T/smb.conf" -a -s root >"$T/smbpasswd.out" 2>&1 ||
	fail "smbpasswd -a root failed: $(cat "$T/smbpasswd.out")"
smb_pidfile=$S/pid/smbd.pid
# In a session of its own: smbd signals its whole process group when it ends.
# (setsid does not fork here: a background job of a script is no group leader.)
setsid smbd --foreground --no-process-group --configfile="$T/smb.conf" </dev/null >"$S/smbd.out" 2>&1 &
smbd_pid=$!
track_pid "$smbd_pid"
port_open() {
	kill -0 "$smbd_pid" 2>/dev/null || fail "smbd exited: $(cat "$S/smbd.out" "$S"/log.* 2>/dev/null | tail -n 20)"
	timeout 2 bash -c ": </dev/tcp/127.0.0.1/$port" 2>/dev/null
}
wait_for 30 port_open
wait_for 10 test -s "$smb_pidfile"
[ "$(cat "$smb_pidfile")" = "$smbd_pid" ] || fail "smbd's pid file says $(cat "$smb_pidfile"), not $smbd_pid"
log "smbd (samba $(smbd --version | awk '{ print $2 }')) listens on 127.0.0.1:$port"

# smbc SHARE COMMANDS: smbclient on SHARE, bounded; output on stdout
smbc() {
	local share=$1
	shift
	timeout 60 smbclient "//127.0.0.1/$share" -p "$port" -U "root%$pass" \
		--configfile="$T/smb.conf" -c "$@" 2>&1
}

# --- [view]: smbclient's tar mode archives current/ ---
smbc view 'tarmode full; tar c '"$T/smb.tar" >"$T/smbtar.out" || fail "smbclient tar failed: $(cat "$T/smbtar.out")"
[ -s "$T/smb.tar" ] || fail "smbclient tar wrote no archive: $(cat "$T/smbtar.out")"
mkdir "$T/x"
tar -xf "$T/smb.tar" -C "$T/x" 2>"$T/untar.err" || fail "GNU tar cannot extract smbclient's archive: $(cat "$T/untar.err")"
X=$T/x/$name
[ -d "$X" ] || fail "the archive has no $name: $(tar -tf "$T/smb.tar" | head -n 20 | tr '\n' ' ')"
# every regular file and directory of the snapshot, with its bytes
(cd "$snap1" && find . -mindepth 1 \( -type f -o -type d \) -printf '%y %s %p\n' | grep -v '^d' | sort) >"$T/want.files"
(cd "$snap1" && find . -mindepth 1 -type d -printf '%p\n' | sort) >"$T/want.dirs"
(cd "$X" && find . -mindepth 1 -type f ! -path ./link-to-g -printf '%y %s %p\n' | sort) >"$T/got.files"
(cd "$X" && find . -mindepth 1 -type d -printf '%p\n' | sort) >"$T/got.dirs"
diff "$T/want.files" "$T/got.files" >"$T/files.diff" ||
	fail "the regular files (type, size, name) of the archive differ from the snapshot's: $(cat "$T/files.diff")"
while read -r _ _ p; do
	cmp -s "$snap1/$p" "$X/$p" || fail "$p: the archive's bytes differ from the snapshot's"
done <"$T/want.files"
log "smbclient tar: $(wc -l <"$T/want.files") regular files, names, sizes and bytes as in the snapshot"
if diff "$T/want.dirs" "$T/got.dirs" >"$T/dirs.diff"; then
	log "smbclient tar: every directory is there, the empty one too"
else
	log "smbclient tar: directories differ: $(tr '\n' ' ' <"$T/dirs.diff")"
fi
# what it does not carry: logged
if [ -L "$X/link-to-g" ]; then
	log "smbclient tar: the symlink is kept"
elif [ -f "$X/link-to-g" ] && cmp -s "$X/link-to-g" "$snap1/dir/g"; then
	log "smbclient tar: the symlink became a copy of the file it points to (smbd follows symlinks)"
elif [ -e "$X/link-to-g" ]; then
	log "smbclient tar: the symlink became a $(stat -c %F "$X/link-to-g")"
else
	log "smbclient tar: the symlink is not in the archive"
fi
if [ "$(stat -c %i "$X/dir/g")" = "$(stat -c %i "$X/hardlink-to-g")" ]; then
	log "smbclient tar: the hard link is kept"
else
	log "smbclient tar: the hard link became two files"
fi
log "smbclient tar: mode600 (0600 1234:5678 in the snapshot) is $(stat -c '%a %u:%g' "$X/mode600") in the archive's extraction; the archive lists: $(tar -tvf "$T/smb.tar" | grep mode600 | awk '{ print $1, $2 }')"
log "smbclient tar: the archive's entries: $(tar -tvf "$T/smb.tar" | awk '{ print $1, $2 }' | sort | uniq -c | tr -s ' \n' ' ')"
if [ "$xattr_ok" = 1 ]; then
	if [ -n "$(getfattr --absolute-names -n user.stillfs --only-values "$X/f" 2>/dev/null)" ]; then
		log "smbclient tar: the user xattr is kept"
	else
		log "smbclient tar: the user xattr is not kept"
	fi
fi
log "smbclient tar: the archive's mtimes: snapshot f $(stat -c %Y "$snap1/f"), extracted $(stat -c %Y "$X/f")"

# --- [live]: previous versions through vfs_shadow_copy2 ---
echo "second version, longer" >"$vol/f"
set2=$(create_set "$vol") || fail "stillfs create of set 2 failed"
token2=$(stillfs show --json "$set2" | jq -er .token)
echo "live version" >"$vol/f"
[ "$token1" != "$token2" ] || fail "two sets share the name $token1"
wait_for 10 test -d "$view/$token2/$name"

smbc live 'allinfo f' >"$T/allinfo.out" || fail "smbclient allinfo f failed: $(cat "$T/allinfo.out")"
for t in "$token1" "$token2"; do
	grep -qF "$t" "$T/allinfo.out" || fail "allinfo f does not list $t as a previous version: $(cat "$T/allinfo.out")"
done
# allinfo lists the snapshots the share has (FSCTL_SRV_ENUMERATE_SNAPSHOTS),
# then looks f up in each: a wrong mapping of the share into the sets shows
# as "pathinfo(@GMT-...\f) failed"
! grep -q 'failed' "$T/allinfo.out" || fail "allinfo f could not look f up in the sets: $(cat "$T/allinfo.out")"
log "allinfo f lists $token1 and $token2: $(grep -F '@GMT-' "$T/allinfo.out" | tr -s '\t\n' '  ')"

# get_ok SHARE REMOTE LOCAL: smbclient get; fails the test when it cannot
get_ok() {
	rm -f "$3"
	smbc "$1" "get \"$2\" \"$3\"" >"$T/get.out" || fail "smbclient get $2 failed: $(cat "$T/get.out")"
	[ -f "$3" ] || fail "smbclient get $2 wrote nothing: $(cat "$T/get.out")"
}
get_ok live f "$T/live"
[ "$(cat "$T/live")" = "live version" ] || fail "f read through [live] is '$(cat "$T/live")', not the live bytes"
get_ok live "$token1/f" "$T/old1"
[ "$(cat "$T/old1")" = "first version" ] || fail "$token1/f read through [live] is '$(cat "$T/old1")', not set 1's bytes"
get_ok live "$token2/f" "$T/old2"
[ "$(cat "$T/old2")" = "second version, longer" ] || fail "$token2/f read through [live] is '$(cat "$T/old2")', not set 2's bytes"
get_ok live "$token1/dir/sub/random.bin" "$T/old-random"
cmp -s "$T/old-random" "$snap1/dir/sub/random.bin" || fail "$token1/dir/sub/random.bin differs from set 1's"
smbc live "ls \"$token1/dir/*\"" >"$T/ls.out" || fail "smbclient ls $token1/dir failed: $(cat "$T/ls.out")"
grep -q ' g ' "$T/ls.out" || fail "ls $token1/dir does not list g: $(cat "$T/ls.out")"
log "through [live]: f is the live bytes, $token1/f set 1's, $token2/f set 2's"

kill -TERM "$(cat "$smb_pidfile")" 2>/dev/null
timeout 10 tail --pid="$smbd_pid" -f /dev/null || fail "smbd did not stop within 10 s of SIGTERM"
timeout 60 "$STILLFS" --catalog "$CATALOG" unpin --view "$view" 2>"$T/unpin.err" || fail "stillfs unpin failed: $(cat "$T/unpin.err")"
stillfs delete "$set1" "$set2" >/dev/null 2>"$T/delete.err" || fail "stillfs delete failed: $(cat "$T/delete.err")"
timeout 30 "$STILLFS" umount "$view" 2>"$T/umount.err" || fail "stillfs umount $view failed: $(cat "$T/umount.err")"
log "ok"
