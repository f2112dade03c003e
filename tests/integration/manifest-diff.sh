#!/bin/bash
# diff and incremental index: between two sets, a scripted set of changes
# (create, delete, modify in place with size and mtime put back, rename,
# chmod, hard link added, xattr changed, directory renamed) is reported
# exactly, as lines and as JSON. The second index uses the filesystem's list
# of changed inodes: inotify shows that it opens exactly the changed files
# and not one unchanged file, and the file rewritten with its size and mtime
# put back is still caught. A damaged or truncated manifest is reported and
# never trusted: diff and verify refuse it, index reads everything instead.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd jq setfattr sqlite3 inotifywait script

fs=$(make_btrfs fs 1G)
vol=$fs/vol
make_subvolume "$vol"
mkdir -p "$vol/a/deep/er" "$vol/b" "$vol/c"
for i in $(seq 1 300); do
	head -c $((i * 101)) /dev/urandom >"$vol/a/f$i"
done
for i in $(seq 1 50); do
	echo "deep $i" >"$vol/a/deep/er/d$i"
done
echo original >"$vol/b/modify-me"
echo chmod >"$vol/b/chmod-me"
echo xattr >"$vol/b/xattr-me"
setfattr -n user.v -v 1 "$vol/b/xattr-me"
echo link >"$vol/b/link-me"
echo rename >"$vol/b/rename-me"
echo delete >"$vol/c/delete-me"

id1=$(create_set --no-writers "$vol") || fail "create of set 1 failed"
stillfs index "$id1" >"$T/index1" || fail "index of set 1 failed"
method=$(cut -f3 "$T/index1")
[ "$method" = full ] || fail "the first index should read everything, not '$method'"

# --- the changes ---
m=$(stat -c %.9Y "$vol/b/modify-me")
printf 'ORIGINAL' | dd of="$vol/b/modify-me" bs=1 conv=notrunc status=none
touch -m -d "@$m" "$vol/b/modify-me"
[ "$(stat -c %s:%.9Y "$vol/b/modify-me")" = "9:$m" ] || fail "size and mtime of modify-me not put back"
chmod 600 "$vol/b/chmod-me"
setfattr -n user.v -v 2 "$vol/b/xattr-me"
ln "$vol/b/link-me" "$vol/c/new-link"
mv "$vol/b/rename-me" "$vol/c/renamed"
rm "$vol/c/delete-me"
echo created >"$vol/c/created"
a_mtime=$(stat -c %.9Y "$vol/a")
mv "$vol/a/deep" "$vol/c/deep-moved"
touch -m -d "@$a_mtime" "$vol/a" # only the rename shows for a/

id2=$(create_set --no-writers "$vol") || fail "create of set 2 failed"
snap2=$(snapshot_path "$id2")
name=$(stillfs show --json "$id2" | jq -er '.volumes[0].name')

# --- incremental index, watched ---
inotifywait -m -r -e open --format '%w%f' "$snap2" >"$T/opened" 2>"$T/inotify.err" &
inw=$!
track_pid "$inw"
wait_for 30 grep -q 'Watches established' "$T/inotify.err"
stillfs index "$id2" >"$T/index2" || fail "index of set 2 failed"
sleep 0.5
kill "$inw"
method=$(cut -f3 "$T/index2")
[ "$method" = generation ] || fail "the second index should use the filesystem's changes, not '$method': $(cat "$T/index2")"
sed "s|^$snap2/*||" "$T/opened" | grep -v -e '/$' -e '^$' | sort -u >"$T/opened.files" || true
# files whose inode changed: content, mode, xattr, link count (both names), renamed, created
cat >"$T/want.opened" <<'EOF'
b/chmod-me
b/link-me
b/modify-me
b/xattr-me
c/created
c/new-link
c/renamed
EOF
# Directories may be opened to list them; only regular files count here. The
# files of a renamed directory are read again (their new paths have no base).
grep -v -e '^a$' -e '^b$' -e '^c$' -e '^c/deep-moved' "$T/opened.files" >"$T/opened.regular" || true
diff -u "$T/want.opened" "$T/opened.regular" >"$T/opened.diff" ||
	fail "the incremental index opened other files than the changed ones: $(cat "$T/opened.diff")"
moved=$(grep -c '^c/deep-moved/.*/d' "$T/opened.files" || true)
[ "$moved" = 50 ] || fail "the renamed directory's 50 files: $moved opened"
read_files=$(stillfs show --json "$id2" | jq -er '.volumes[0].manifest.read_files')
[ "$read_files" = 57 ] || fail "the incremental index says it read $read_files files, not 7 + 50"
log "incremental index: method generation, $read_files files read of $(cd "$snap2" && find . -type f | wc -l): the 7 changed and the 50 beneath the renamed directory; no other file opened"

# the incremental manifest equals a full one
stillfs show --json "$id2" | jq -er '.volumes[0].manifest.digest' >"$T/digest.incremental"
stillfs index --full "$id2" >"$T/index2full" || fail "index --full of set 2 failed"
[ "$(cut -f3 "$T/index2full")" = full ] || fail "index --full did not read everything"
stillfs show --json "$id2" | jq -er '.volumes[0].manifest.digest' >"$T/digest.full"
cmp -s "$T/digest.incremental" "$T/digest.full" ||
	fail "the incremental manifest differs from a full one: $(cat "$T/digest.incremental" "$T/digest.full")"
log "the incremental manifest is the full one (same digest)"

# progress on a terminal only
script -qec "'$STILLFS' --catalog '$CATALOG' index --full '$id2'" /dev/null >"$T/tty.out" </dev/null ||
	fail "index on a terminal failed: $(cat "$T/tty.out")"
grep -q "indexing $name: [0-9]* entries, [0-9]* files read" "$T/tty.out" ||
	fail "index on a terminal showed no progress: $(cat -v "$T/tty.out")"
grep -q 'indexing' "$T/index2full" && fail "index showed progress without a terminal"
log "progress: shown on a terminal, not otherwise"

# --- diff ---
stillfs diff "$id1" "$id2" >"$T/diff.out" 2>"$T/diff.err" || fail "diff failed: $(cat "$T/diff.err")"
n=$name
sort >"$T/want.diff" <<EOF
added	$n/c/created
added	$n/c/new-link
metadata	$n/b/chmod-me	mode
metadata	$n/b/link-me	links
metadata	$n/b/xattr-me	xattrs
metadata	$n/b	mtime
metadata	$n/c	mtime
modified	$n/b/modify-me	content
removed	$n/c/delete-me
renamed	$n/a/deep	$n/c/deep-moved
renamed	$n/b/rename-me	$n/c/renamed
EOF
sort "$T/diff.out" >"$T/got.diff"
diff -u "$T/want.diff" "$T/got.diff" >"$T/diff.diff" || fail "diff reported otherwise: $(cat "$T/diff.diff")"
log "diff: exactly the $(wc -l <"$T/want.diff") changes"
stillfs diff --json "$id1" "$id2" >"$T/diff.json" || fail "diff --json failed"
[ "$(jq length "$T/diff.json")" = "$(wc -l <"$T/want.diff")" ] || fail "diff --json: $(cat "$T/diff.json")"
[ "$(jq -r '.[] | select(.change == "renamed" and .path == "'"$n"'/b/rename-me") | .to' "$T/diff.json")" = "$n/c/renamed" ] ||
	fail "diff --json does not show the rename: $(cat "$T/diff.json")"
stillfs diff "$id2" "$id2" >"$T/same.out" || fail "diff of a set with itself failed"
[ ! -s "$T/same.out" ] || fail "a set differs from itself: $(cat "$T/same.out")"

# --- damage: never trusted ---
cp "$CATALOG" "$T/catalog.good"
seq2=$(stillfs show --json "$id2" | jq -er .seq)
sqlite3 "$CATALOG" "UPDATE manifest_block SET data = substr(data, 1, 100) || X'5A' || substr(data, 102) WHERE set_seq = $seq2 AND block = 0" ||
	fail "cannot damage the manifest"
stillfs diff "$id1" "$id2" >"$T/out" 2>"$T/err" && fail "diff used a damaged manifest: $(cat "$T/out")"
grep -q 'damaged' "$T/err" || fail "diff of a damaged manifest: $(cat "$T/err")"
log "a flipped byte: $(cat "$T/err")"
stillfs verify "$id2" "$snap2" >"$T/out" 2>"$T/err" && fail "verify used a damaged manifest"
grep -q 'damaged' "$T/err" || fail "verify of a damaged manifest: $(cat "$T/err")"

# a truncated manifest: its last block gone, the blocks count and digest kept
cp "$T/catalog.good" "$CATALOG"
rm -f "$CATALOG-wal" "$CATALOG-shm"
blocks=$(sqlite3 "$CATALOG" "SELECT blocks FROM manifest WHERE set_seq = $seq2")
sqlite3 "$CATALOG" "UPDATE manifest SET blocks = blocks - 1 WHERE set_seq = $seq2; DELETE FROM manifest_block WHERE set_seq = $seq2 AND block = $((blocks - 1))"
stillfs diff "$id1" "$id2" >"$T/out" 2>"$T/err" && fail "diff used a truncated manifest"
grep -q 'damaged' "$T/err" || fail "diff of a truncated manifest: $(cat "$T/err")"
log "a truncated manifest: $(cat "$T/err")"

# a damaged base: the next index reads every file instead of trusting it
echo more >"$vol/c/created-later"
id3=$(create_set --no-writers "$vol") || fail "create of set 3 failed"
stillfs index "$id3" >"$T/index3" 2>"$T/index3.err" || fail "index of set 3 failed: $(cat "$T/index3.err")"
[ "$(cut -f3 "$T/index3")" = full ] || fail "index on a damaged base was not full: $(cat "$T/index3" "$T/index3.err")"
grep -q 'reading every file instead' "$T/index3.err" || fail "index on a damaged base said nothing: $(cat "$T/index3.err")"
stillfs verify "$id3" "$(snapshot_path "$id3")" 2>"$T/err" || fail "set 3's manifest does not verify its own snapshot: $(cat "$T/err")"
log "a damaged base: index warned, read everything, and the result verifies"

# a re-index killed half-way: the complete manifest stays in use; gc removes the unfinished one
stillfs show --json "$id3" | jq -er '.volumes[0].manifest.digest' >"$T/digest3" || fail "set 3 has no manifest"
rc=0
STILLFS_FAILPOINT=index-after-intent "$STILLFS" --catalog "$CATALOG" index --full "$id3" >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] || fail "the index did not die at its failpoint (exit $rc)"
[ "$(sqlite3 "$CATALOG" "SELECT count(*) FROM manifest WHERE state = 'building'")" = 1 ] ||
	fail "no manifest in progress after the killed index"
[ "$(stillfs show --json "$id3" | jq -r '.volumes[0].manifest.digest')" = "$(cat "$T/digest3")" ] ||
	fail "the killed re-index changed the set's manifest: $(stillfs show --json "$id3" | jq '.volumes[0].manifest')"
stillfs diff "$id1" "$id3" >"$T/out" 2>"$T/err" || fail "diff after a killed re-index failed: $(cat "$T/err")"
stillfs gc 2>"$T/gc.err" || fail "gc failed: $(cat "$T/gc.err")"
grep -q 'unfinished manifest' "$T/gc.err" || fail "gc did not report the unfinished manifest: $(cat "$T/gc.err")"
[ "$(sqlite3 "$CATALOG" "SELECT count(*) FROM manifest WHERE state = 'building'")" = 0 ] ||
	fail "gc left the unfinished manifest"
stillfs verify "$id3" "$(snapshot_path "$id3")" 2>"$T/err" || fail "set 3's manifest no longer verifies: $(cat "$T/err")"
log "a re-index killed half-way: the complete manifest stayed in use, and gc removed the unfinished one"
log "PASS"
