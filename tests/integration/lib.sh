# shellcheck shell=bash
# Shared setup for integration tests. Source it first thing:
#
#   . "$(dirname "$0")/lib.sh"
#
# It makes a private temp directory ($T), and on every exit path unmounts
# whatever the test mounted beneath it (FUSE views first, then loop
# filesystems), detaches the loop devices it attached, stops the processes it
# registered, and removes $T. Every wait has a timeout.
#
# Environment from meson: STILLFS (the binary), STILLFS_TEST_TOOLS (the
# directory of test helper programs), STILLFS_TOOLS_DIR, STILLFS_SOURCE_ROOT.

set -euo pipefail

: "${STILLFS:?STILLFS must name the stillfs binary}"
: "${STILLFS_TEST_TOOLS:=}"

TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/stillfs-test-$TEST_NAME.XXXXXX")
CATALOG="$T/catalog.db"
export STILLFS_CATALOG="$CATALOG"
_pids=()

log() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }

# problem MESSAGE: logs a problem and records it in $problems and goes on, for
# tests that try every case and fail at the end listing each one that did not
# behave.
problems=()
problem() {
	log "PROBLEM: $*"
	problems+=("$*")
}

# Runs the stillfs binary under test with this test's catalog.
stillfs() { "$STILLFS" --catalog "$CATALOG" "$@"; }

# Registers a background pid to kill at exit.
track_pid() { _pids+=("$1"); }

_cleanup() {
	local rc=$?
	set +e
	# (a second signal must not cut the cleaning up short)
	trap "" INT TERM
	# a filesystem left frozen would keep its writers, and the unmount, waiting
	local m
	while read -r m; do
		fsfreeze --unfreeze "$m" 2>/dev/null
	done < <(awk -v t="$T" 'index($5, t) == 1 && $0 !~ / - fuse/ { print $5 }' /proc/self/mountinfo)
	for p in "${_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${_pids[@]}"; do
		timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null
	done
	# innermost mounts first: FUSE views, then the filesystems beneath them
	for _ in 1 2 3; do
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done < <(awk -v t="$T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	done
	# loop devices are found by their backing file: make_btrfs runs in a
	# command substitution, so it cannot record them in this shell
	local l
	while read -r l; do
		losetup -d "$l" 2>/dev/null
	done < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v t="$T/" 'index($2, t) == 1 { print $1 }')
	if awk -v t="$T" 'index($5, t) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		log "FAIL: could not unmount everything under $T"
		[ "$rc" -eq 0 ] && rc=1
	else
		rm -rf --one-file-system "$T"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

require_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "needs $c"
	done
}

# make_btrfs NAME [SIZE]: makes a loop-backed btrfs filesystem mounted at
# $T/NAME and prints the mount point.
make_btrfs() {
	local size=${2:-1G} img="$T/$1.img" mnt="$T/$1" loop
	require_root
	require_cmd mkfs.btrfs losetup
	[ -e /dev/loop-control ] || skip "no loop devices"
	truncate -s "$size" "$img"
	mkfs.btrfs -q -f "$img" >/dev/null || fail "mkfs.btrfs $img"
	loop=$(losetup --find --show "$img") || skip "cannot attach a loop device"
	mkdir -p "$mnt"
	mount -t btrfs "$loop" "$mnt" || fail "mount $loop"
	printf '%s\n' "$mnt"
}

# make_fs TYPE NAME [SIZE]: makes a loop-backed filesystem of TYPE (ext4,
# xfs) mounted at $T/NAME and prints the mount point. Skips the test when
# the mkfs tool is missing.
make_fs() {
	local type=$1 size=${3:-512M} img="$T/$2.img" mnt="$T/$2" loop
	require_root
	require_cmd "mkfs.$type" losetup
	[ -e /dev/loop-control ] || skip "no loop devices"
	truncate -s "$size" "$img"
	case $type in
	ext4) mkfs.ext4 -q -F "$img" >/dev/null || fail "mkfs.ext4 $img" ;;
	xfs) mkfs.xfs -q -f -m reflink=1 "$img" >/dev/null || fail "mkfs.xfs $img" ;;
	*) fail "make_fs: no type $type" ;;
	esac
	loop=$(losetup --find --show "$img") || skip "cannot attach a loop device"
	mkdir -p "$mnt"
	mount -t "$type" "$loop" "$mnt" || fail "mount $loop ($type)"
	printf '%s\n' "$mnt"
}

# make_subvolume PATH: creates a btrfs subvolume.
make_subvolume() { btrfs -q subvolume create "$1" >/dev/null || fail "subvolume create $1"; }

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds; fails on timeout.
wait_for() {
	local secs=$1 deadline
	shift
	deadline=$((SECONDS + secs))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for: $*"
		sleep 0.1
	done
}

is_mounted() { mountpoint -q "$1"; }

# What a view mounted with --passthrough logs once the kernel's INIT is answered.
PASSTHROUGH_ON='open files are read by the kernel from the snapshot (passthrough)'
PASSTHROUGH_OFF='this kernel offers no FUSE passthrough'
# passthrough_offered LOG: waits until such a view, logging to LOG, says
# whether the kernel offers passthrough; true if it does.
passthrough_offered() {
	wait_for 10 grep -qF -e "$PASSTHROUGH_ON" -e "$PASSTHROUGH_OFF" "$1"
	grep -qF "$PASSTHROUGH_ON" "$1"
}

# mount_view MOUNTPOINT [ARGS...]: mounts a view and waits until it is ready.
mount_view() {
	local mnt=$1
	shift
	mkdir -p "$mnt"
	timeout 30 "$STILLFS" --catalog "$CATALOG" mount "$@" "$mnt" || fail "stillfs mount $mnt"
	wait_for 10 is_mounted "$mnt"
}

# snapshot_path ID [INDEX]: the underlying snapshot directory of a set's volume.
snapshot_path() {
	local id=$1 idx=${2:-0}
	stillfs show --json "$id" | jq -er --argjson i "$idx" '.volumes[$i].snapshot'
}

# create_set VOLUME... : creates a set and prints its id.
create_set() { timeout 120 "$STILLFS" --catalog "$CATALOG" create "$@"; }

tool() {
	local t=$1
	shift
	[ -x "$STILLFS_TEST_TOOLS/$t" ] || fail "test tool $t not built"
	"$STILLFS_TEST_TOOLS/$t" "$@"
}
