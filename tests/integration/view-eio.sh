#!/bin/bash
# view-eio: a read that fails underneath returns EIO through the view and is
# logged; the view never substitutes live data, and it goes on serving the
# rest. The failure is real: one data block of a snapshotted file is
# overwritten in the filesystem image, so btrfs's checksum check fails.
# With --passthrough (meson's view-eio-passthrough) the kernel reads the file
# itself: the reader still gets EIO, and the daemon, which never sees the
# read, logs nothing about it. Skipped where the kernel offers no passthrough.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

MOUNT_OPTS=()
case ${1:-} in
--passthrough) MOUNT_OPTS=(--passthrough) ;;
"") ;;
*) fail "unknown argument '$1'" ;;
esac

require_root
require_cmd btrfs python3
[ -e /dev/fuse ] || skip "no /dev/fuse"

MNT=$(make_btrfs fs 512M)
make_subvolume "$MNT/vol"
# a recognisable, incompressible file of 256 KiB, and a healthy neighbour
python3 -c '
import os, sys
marker = b"STILLFS-EIO-MARKER-" + os.urandom(16).hex().encode()
data = bytearray(os.urandom(256 * 1024))
data[65536:65536 + len(marker)] = marker
open(sys.argv[1], "wb").write(data)
open(sys.argv[2], "wb").write(marker)' "$MNT/vol/victim" "$T/marker"
echo "healthy" >"$MNT/vol/healthy"
sync

id=$(create_set "$MNT/vol") || fail "stillfs create"
token=$(stillfs show --json "$id" | jq -r .token)
name=$(stillfs show --json "$id" | jq -r '.volumes[0].name')

# the live file changes after the snapshot: the view must never show this
echo "live data, not the snapshot's" >"$MNT/vol/victim.new"
mv "$MNT/vol/victim.new" "$MNT/vol/victim"
sync

# corrupt the snapshot's data block in the image, behind btrfs's back
img="$T/fs.img"
offset=$(python3 -c '
import mmap, sys
m = open(sys.argv[2], "rb").read()
with open(sys.argv[1], "rb") as f:
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    print(mm.find(m))' "$img" "$T/marker")
[ "$offset" -ge 0 ] || fail "the file's data was not found in the image"
printf 'CORRUPTED' | dd of="$img" bs=1 seek="$offset" conv=notrunc status=none
sync
echo 3 >/proc/sys/vm/drop_caches

mkdir -p "$T/view"
"$STILLFS" --catalog "$CATALOG" mount -f "${MOUNT_OPTS[@]}" "$T/view" 2>"$T/view.log" &
track_pid $!
wait_for 10 is_mounted "$T/view"
if [ ${#MOUNT_OPTS[@]} -gt 0 ]; then
	passthrough_offered "$T/view.log" || skip "the kernel ($(uname -r)) offers no FUSE passthrough"
fi
V="$T/view/$token/$name"

if out=$(cat "$V/victim" 2>&1 >/dev/null); then
	fail "reading the corrupted file through the view succeeded"
fi
case $out in
*"Input/output error"*) ;;
*) fail "reading the corrupted file failed, but not with EIO: $out" ;;
esac
if [ ${#MOUNT_OPTS[@]} -gt 0 ]; then
	# the kernel read the file itself: a line here would mean the daemon did
	if grep -q "failed" "$T/view.log"; then
		fail "with passthrough the daemon saw the failed read: $(grep failed "$T/view.log")"
	fi
	log "ok: EIO from the kernel's own read (passthrough); the daemon saw none of it"
else
	grep -q "failed" "$T/view.log" || fail "the view logged nothing about the failed read: $(cat "$T/view.log")"
	log "ok: EIO, and the view logged: $(grep failed "$T/view.log" | head -1)"
fi

[ "$(cat "$V/healthy")" = healthy ] || fail "the view stopped serving healthy files"
if grep -q "live data" "$V/victim" 2>/dev/null; then
	fail "the view served live data in place of the snapshot"
fi
stillfs umount "$T/view" || fail "stillfs umount"
log "a failing read is an error, and the view lives on"
