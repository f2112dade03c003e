#!/bin/bash
# full-disk: a btrfs volume that a set keeps from shrinking fills up. show
# reports the space the set holds once btrfs quotas count it; a new set is
# refused before anything is recorded, saying what is free; deleting the old
# set works on the full filesystem and gives its space back; then a set can be
# taken again.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd btrfs jq

# not in $(...): make_btrfs must record its loop device in this shell for cleanup
make_btrfs fs 512M >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"
head -c 100M /dev/urandom >"$vol/data" || fail "cannot write the data file"
sync

free_mib() { df --output=avail -m "$fs" | tail -1 | tr -d ' '; }

old=$(create_set "$vol") || fail "the first set was refused on an empty filesystem"
stillfs show "$old" >"$T/show" || fail "show failed"
grep -q "space: *not counted: btrfs quotas are off" "$T/show" ||
	fail "show without quotas does not say the space is not counted: $(cat "$T/show")"
[ "$(stillfs show --json "$old" | jq .volumes[0].space)" = null ] ||
	fail "show --json has a space without quotas"
timeout 60 btrfs quota enable "$fs" || fail "btrfs quota enable failed"
timeout 60 btrfs quota rescan -W "$fs" >/dev/null || fail "the quota rescan did not finish"

# the volume moves on: the set now holds the only copy of the old 100 MiB
head -c 100M /dev/urandom >"$vol/data" || fail "cannot rewrite the data file"
timeout 60 btrfs filesystem sync "$fs" || fail "btrfs filesystem sync timed out"
excl=$(stillfs show --json "$old" | jq .volumes[0].space.exclusive)
refd=$(stillfs show --json "$old" | jq .volumes[0].space.referenced)
mib=$((1024 * 1024))
[ "$excl" -ge $((99 * mib)) ] && [ "$excl" -le $((101 * mib)) ] ||
	fail "the set holds $excl bytes of its own, not about 100 MiB"
[ "$refd" -ge "$excl" ] || fail "the set refers to $refd bytes, less than its own $excl"
stillfs show "$old" | grep -q "space: *100.0 MiB its own" ||
	fail "show does not print the space: $(stillfs show "$old")"
log "the set holds $excl bytes of its own, refers to $refd"

dd if=/dev/zero of="$vol/fill" bs=1M status=none 2>/dev/null || true
sync
log "filled: $(free_mib) MiB free"

rc=0
create_set "$vol" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" -eq 1 ] || fail "create on a full filesystem exited $rc, not 1: $(cat "$T/err")"
grep -q "not enough free space" "$T/err" ||
	fail "create on a full filesystem did not say why: $(cat "$T/err")"
grep -qF "$fs/.stillfs" "$T/err" || fail "the refusal does not name where snapshots go: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "a refused create printed an id: $(cat "$T/out")"
n=$(stillfs list --json | jq length)
[ "$n" -eq 1 ] || fail "$n sets after a refused create, not 1"
log "refused: $(cat "$T/err")"

before=$(free_mib)
timeout 120 "$STILLFS" --catalog "$CATALOG" delete "$old" >"$T/out" 2>"$T/err" ||
	fail "delete on a full filesystem failed: $(cat "$T/err")"
n=$(stillfs list --json | jq length)
[ "$n" -eq 0 ] || fail "$n sets after deleting the only one"
timeout 60 btrfs subvolume sync "$fs" >/dev/null || fail "btrfs subvolume sync timed out"
timeout 60 btrfs filesystem sync "$fs" || fail "btrfs filesystem sync timed out"
after=$(free_mib)
[ "$((after - before))" -ge 90 ] ||
	fail "deleting the set gave back $((after - before)) MiB, not about 100 ($before -> $after)"
log "deleted on a full filesystem: $before -> $after MiB free"

new=$(create_set "$vol") || fail "a set was refused once there was room again"
[ "$(stillfs show --json "$new" | jq -r .state)" = complete ] || fail "set $new is not complete"
log "ok: a full filesystem refuses a set, deletes one, and takes one again"
