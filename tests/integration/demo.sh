#!/bin/bash
# demo: the README's main-job command works end to end, both on its built-in
# loop-backed volume and on a volume the user names, and leaves nothing behind.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd btrfs jq sqlite3 tar
[ -e /dev/fuse ] || skip "no /dev/fuse"
SRC=${STILLFS_SOURCE_ROOT:?}
BUILD=$(dirname "$STILLFS_TOOLS_DIR")

run_demo() {
	TMPDIR="$T/tmp" STILLFS_BUILD_DIR="$BUILD" timeout 300 "$SRC/tools/run-demo" "$@" \
		</dev/null >"$T/demo.out" 2>&1
}
mkdir -p "$T/tmp"

run_demo || fail "run-demo failed: $(tail -20 "$T/demo.out")"
grep -q "PRAGMA integrity_check: ok" "$T/demo.out" ||
	fail "the demo did not show an intact database: $(tail -20 "$T/demo.out")"
grep -q "^consistent: " "$T/demo.out" ||
	fail "the demo's copy was not checked consistent: $(tail -20 "$T/demo.out")"
grep -q "the copy matches set" "$T/demo.out" ||
	fail "the demo's archive was not verified against the manifest: $(tail -20 "$T/demo.out")"
[ -z "$(ls -A "$T/tmp")" ] || fail "run-demo left files behind: $(ls -A "$T/tmp")"
if losetup -l -n -O BACK-FILE | grep -qF "$T/tmp/"; then
	fail "run-demo left a loop device attached"
fi

# a volume the user names
MNT=$(make_btrfs fs 512M)
make_subvolume "$MNT/data"
echo "precious" >"$MNT/data/file"
run_demo "$MNT/data" || fail "run-demo $MNT/data failed: $(tail -20 "$T/demo.out")"
grep -q "success" "$T/demo.out" || fail "run-demo $MNT/data: $(tail -20 "$T/demo.out")"
grep -q "the copy matches set" "$T/demo.out" ||
	fail "run-demo $MNT/data did not verify the archive: $(tail -20 "$T/demo.out")"
[ -z "$(ls -A "$T/tmp")" ] || fail "run-demo left files behind: $(ls -A "$T/tmp")"
[ "$(cat "$MNT/data/file")" = precious ] || fail "the volume changed"
if btrfs subvolume list -o "$MNT" 2>/dev/null | grep -q "\.stillfs/.*/"; then
	fail "run-demo left a snapshot: $(btrfs subvolume list "$MNT")"
fi
log "run-demo works on its own volume and on a named one, and cleans up"
