#!/bin/bash
# view-stress: many readers at once through the view. 16 threads read a
# snapshot through the view for a while (whole files with buffers of 4 KiB to
# 1 MiB, preads around and past the end of file, mmap, SEEK_DATA/SEEK_HOLE),
# first each on its own files, then all on one 64 MiB file, then both again
# while the kernel drops its page cache and inodes every half second; every
# byte matches the snapshot, no reader hangs or starves, and the daemon still
# serves afterwards. A self-check first proves readstress sees one wrong byte.
#
# First, a cold read of a 64 MiB file shows who reads the data: the daemon,
# all of it, with direct I/O (none of it stays in the snapshot's page
# cache). With --passthrough (meson's view-stress-passthrough) the view is
# mounted so: the kernel then reads open files from the snapshot itself, so
# the daemon must read next to nothing there (the data is in the snapshot's
# page cache) while every byte of the stress still matches. Skipped where the kernel offers no passthrough.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

MOUNT_OPTS=()
case ${1:-} in
--passthrough) MOUNT_OPTS=(--passthrough) ;;
"") ;;
*) fail "unknown argument '$1'" ;;
esac

require_root
require_cmd btrfs python3 jq timeout cmp fincore
[ -e /dev/fuse ] || skip "no /dev/fuse"
RS=$STILLFS_TEST_TOOLS/readstress
[ -x "$RS" ] || fail "test tool readstress not built"

MNT=$(make_btrfs fs 2G)
make_subvolume "$MNT/vol"
# 4 large files (--same reads big0, the largest), 2 sparse ones (one ends in a
# hole, one in data), and 300 small and medium files, of sizes around page and
# extent boundaries among them
python3 - "$MNT/vol" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(7)
for i in range(4):
    with open(os.path.join(root, "big%d" % i), "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
MiB = 1 << 20
for name, size, regions in (
        ("sparse-hole", 60 * MiB, [(0, MiB), (10 * MiB + 123, 65536), (40 * MiB, 3 * MiB)]),
        ("sparse-data", 50 * MiB + 4097, [(5 * MiB, 4097), (32 * MiB - 1, 2), (50 * MiB, 4097)])):
    with open(os.path.join(root, name), "wb") as f:
        f.truncate(size)
        for off, n in regions:
            f.seek(off)
            f.write(os.urandom(n))
fixed = [0, 1, 2, 4095, 4096, 4097, 8191, 8192, 131071, 131072, 131073,
         MiB - 1, MiB, MiB + 1]
for d in range(10):
    dp = os.path.join(root, "m%d" % d)
    os.mkdir(dp)
    for i in range(30):
        k = d * 30 + i
        if k < len(fixed):
            n = fixed[k]
        elif k % 3 == 0:
            n = rng.randrange(0, 4 * MiB)
        else:
            n = rng.randrange(0, 256 * 1024)
        with open(os.path.join(dp, "f%03d" % i), "wb") as f:
            f.write(os.urandom(n))
PY
id=$(create_set "$MNT/vol") || fail "stillfs create"
SNAP=$(snapshot_path "$id")
name=$(stillfs show --json "$id" | jq -r '.volumes[0].name')
nfiles=$(find "$SNAP" -type f | wc -l)
log "$nfiles files, $(du -sm --apparent-size "$SNAP" | cut -f1) MiB (apparent) in the snapshot"

# the daemon in the foreground: its log is kept, and it can be killed if a
# reader hangs
mkdir -p "$T/view"
"$STILLFS" --catalog "$CATALOG" mount -f "${MOUNT_OPTS[@]}" "$T/view" 2>"$T/daemon.log" &
daemon=$!
track_pid "$daemon"
wait_for 10 is_mounted "$T/view"
if [ ${#MOUNT_OPTS[@]} -gt 0 ]; then
	passthrough_offered "$T/daemon.log" || skip "the kernel ($(uname -r)) offers no FUSE passthrough"
	log "passthrough: $(grep -F "$PASSTHROUGH_ON" "$T/daemon.log")"
fi
V="$T/view/latest/$name"
wait_for 10 test -d "$V"

# bounded SECS OUT ERR COMMAND...: runs COMMAND under timeout, its output in
# OUT and ERR. A reader blocked in a request the daemon took and never
# answers cannot be killed, not even by SIGKILL (nor by readstress's own
# watchdog): timeout then gives up on it (its SIGKILL goes to its own process
# group, itself included), or else, ten seconds past the deadline, the daemon
# is killed here, which fails the request and frees the reader. The caller
# fails the test on a hang; the cleanup kills the daemon.
bounded() {
	local secs=$1 out=$2 err=$3 pid deadline rc=0
	shift 3
	timeout -k 5 "$secs" "$@" >"$out" 2>"$err" &
	pid=$!
	deadline=$((SECONDS + secs + 10))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill -KILL "$daemon" 2>/dev/null
			timeout 10 tail --pid="$pid" -f /dev/null
			cat "$out" "$err" >&2
			fail "${*:1:3}... hung for more than $secs s; the view daemon was killed to free it"
		fi
		sleep 0.2
	done
	wait "$pid" || rc=$?
	return "$rc"
}

# self-check: a native copy of one file with one byte flipped, read through
# the view, must be reported at that byte
mkdir -p "$T/flipped/m1"
cp "$SNAP/m1/f020" "$T/flipped/m1/f020"
size=$(stat -c %s "$T/flipped/m1/f020")
[ "$size" -gt 1000 ] || fail "m1/f020 is too small for the self-check ($size bytes)"
flip=$((size / 2 + 1))
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x01]))' \
	"$T/flipped/m1/f020" "$flip"
rc=0
bounded 30 "$T/selfcheck.out" "$T/selfcheck.err" \
	"$RS" --threads 2 --seconds 1 "$V" "$T/flipped" || rc=$?
[ "$rc" -eq 1 ] || fail "readstress exited $rc on a copy with one flipped byte, not 1: $(cat "$T/selfcheck.err")"
grep -q "content differs from offset $flip:" "$T/selfcheck.out" ||
	fail "readstress did not report the flipped byte at $flip: $(head -3 "$T/selfcheck.out")"
log "self-check: one flipped byte at offset $flip was found:" \
	"$(grep -o '[0-9]* problems$' "$T/selfcheck.err") in 1 s, exit 1"

# daemon_io: the bytes the daemon has read and its CPU time in clock ticks
daemon_io() {
	local stat rchar
	stat=$(cat "/proc/$daemon/stat") || fail "the view daemon died: $(tail -5 "$T/daemon.log")"
	stat=${stat##*) }
	# without task I/O accounting in the kernel, 0
	rchar=$(awk '/^rchar:/ { print $2 }' "/proc/$daemon/io" 2>/dev/null) || true
	echo "${rchar:-0} $(echo "$stat" | awk '{ print $12 + $13 }')"
}

# who reads the data: a cold read of a 64 MiB file through the view makes the
# daemon read it from the snapshot, unless the kernel reads it (passthrough)
echo 3 >/proc/sys/vm/drop_caches
io0=$(daemon_io)
bounded 60 /dev/null "$T/cat.err" cat "$V/big1" || fail "reading big1 failed: $(cat "$T/cat.err")"
io1=$(daemon_io)
read_by_daemon=$((${io1%% *} - ${io0%% *}))
if [ ! -r "/proc/$daemon/io" ]; then
	[ ${#MOUNT_OPTS[@]} -eq 0 ] || skip "no task I/O accounting: cannot tell who reads the data"
elif [ ${#MOUNT_OPTS[@]} -gt 0 ]; then
	[ "$read_by_daemon" -lt $((1 << 20)) ] ||
		fail "with passthrough the daemon read $read_by_daemon bytes for a cold read of 64 MiB"
else
	[ "$read_by_daemon" -ge $((64 << 20)) ] ||
		fail "the daemon read $read_by_daemon bytes for a cold read of 64 MiB, not all of it"
fi
log "a cold read of 64 MiB made the daemon read $read_by_daemon bytes"

# where that read left the data: in the view's page cache only (the daemon
# reads the snapshot with direct I/O), or, with passthrough, in the
# snapshot's (the kernel reads the snapshot's file as the reader's calls come)
snap_cached=$(fincore --bytes --noheadings --output RES "$SNAP/big1") ||
	fail "fincore failed on $SNAP/big1"
snap_cached=${snap_cached// /}
if [ ${#MOUNT_OPTS[@]} -gt 0 ]; then
	[ "$snap_cached" -ge $((32 << 20)) ] ||
		fail "with passthrough the snapshot's page cache holds only $snap_cached bytes of big1"
else
	[ "$snap_cached" -lt $((1 << 20)) ] ||
		fail "the daemon's direct reads left $snap_cached bytes of big1 in the snapshot's page cache"
fi
log "the snapshot's page cache holds $snap_cached bytes of big1"

# page cache drops on the whole machine (this test's, and any other's)
machine_drops() { awk '$1 == "drop_pagecache" { print $2 }' /proc/vmstat; }

# run_stress LABEL SECONDS [OPTIONS]: one readstress run from cold caches
run_stress() {
	local label=$1 secs=$2 rc=0 io0 io1 drops0 start elapsed
	shift 2
	echo 3 >/proc/sys/vm/drop_caches
	io0=$(daemon_io)
	drops0=$(machine_drops)
	start=$(date +%s%N)
	bounded $((secs + 40)) "$T/$label.out" "$T/$label.err" \
		"$RS" --threads 16 --seconds "$secs" --stall 20 "$@" "$V" "$SNAP" || rc=$?
	elapsed=$((($(date +%s%N) - start) / 1000000))
	io1=$(daemon_io)
	log "$label: $(sed -n 's/^readstress: total: //p' "$T/$label.err")"
	# shellcheck disable=SC2086
	set -- $io0 $io1
	log "  the daemon read $((($3 - $1) >> 20)) MiB (data and requests)" \
		"($((($3 - $1) * 1000 / elapsed >> 20)) MiB/s) with $((($4 - $2) / $(getconf CLK_TCK))) s of CPU;" \
		"page cache dropped $(($(machine_drops) - drops0)) times on the machine"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] ||
		grep -q 'made no progress\|did not answer' "$T/$label.out" "$T/$label.err"; then
		cat "$T/$label.out" "$T/$label.err" >&2
		fail "$label: a reader hung (readstress exited $rc)"
	fi
	if [ "$rc" -ne 0 ]; then
		cat "$T/$label.out" "$T/$label.err" >&2
		problem "$label: readstress exited $rc: $(head -1 "$T/$label.out")"
	fi
}

# drop_caches_start / drop_caches_stop: evict pages, dentries and inodes
# every half second under the readers. drop_caches can stall for as long as
# 16 readers keep one file busy (natively too), so a second loop evicts the
# large files' pages in the view directly (posix_fadvise DONTNEED).
drop_caches_start() {
	: >"$T/evictions"
	(
		while :; do
			echo 3 >/proc/sys/vm/drop_caches
			sleep 0.5
		done
	) &
	droppers=($!)
	(
		while :; do
			for f in big0 big1 big2 big3 sparse-hole sparse-data; do
				dd if="$V/$f" iflag=nocache count=0 status=none
			done
			echo >>"$T/evictions"
			sleep 0.5
		done
	) &
	droppers+=($!)
	track_pid "${droppers[0]}"
	track_pid "${droppers[1]}"
}
drop_caches_stop() {
	kill "${droppers[@]}" 2>/dev/null || true
	wait "${droppers[@]}" 2>/dev/null || true
	log "  the large files were evicted from the view's page cache $(wc -l <"$T/evictions") times"
}

run_stress distinct 20
run_stress same 15 --same
drop_caches_start
run_stress distinct-drop 20
drop_caches_stop
drop_caches_start
run_stress same-drop 15 --same
drop_caches_stop

# the daemon is alive and serves
kill -0 "$daemon" 2>/dev/null || fail "the view daemon died: $(tail -5 "$T/daemon.log")"
bounded 10 /dev/null "$T/stat.err" stat "$T/view/latest" ||
	fail "stat of latest failed after the stress: $(cat "$T/stat.err")"
echo 3 >/proc/sys/vm/drop_caches
bounded 60 /dev/null "$T/cmp.err" cmp "$V/big3" "$SNAP/big3" ||
	fail "big3 differs through the view after the stress: $(cat "$T/cmp.err")"
fds=$(find "/proc/$daemon/fd" -mindepth 1 | wc -l)
log "daemon: $(grep -c '' "$T/daemon.log") log lines, $fds descriptors open," \
	"$(grep VmHWM "/proc/$daemon/status" | tr -s ' \t' ' '), $(grep Threads "/proc/$daemon/status" | tr -s ' \t' ' ')"
if grep -iv -e '^stillfs: serving' -e "$PASSTHROUGH_ON" "$T/daemon.log" | grep -q .; then
	problem "the daemon logged: $(grep -iv -e '^stillfs: serving' -e "$PASSTHROUGH_ON" "$T/daemon.log" | head -3)"
fi
timeout 30 "$STILLFS" --catalog "$CATALOG" umount "$T/view" || fail "stillfs umount"
timeout 10 tail --pid="$daemon" -f /dev/null || fail "the daemon did not exit after umount"

[ ${#problems[@]} -eq 0 ] || fail "${#problems[@]} problems: ${problems[*]}"
log "16 readers, distinct files and one shared file, with and without cache drops: every byte matched"
