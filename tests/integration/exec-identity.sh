#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# current/ keeps the identity of what did not change, so that incremental
# backups through it copy only what changed.
#
# A volume holds 2000 small files in 20 directories. Set 1 is pinned as the
# view's current/; then 10 files get new content (5 of the same size), 2 files
# are added and 2 removed, and set 2 is pinned instead. Through the same path,
# current/<volume>:
#   (a) every file and directory that did not change has the same st_dev,
#       st_ino, mode, nlink, owner, size, mtime and ctime (nanoseconds) under
#       both pins; st_ino is 1<<63 | volume key<<40 | the snapshot's inode
#       number, with one volume key for both; every file reads as its set's
#       snapshot;
#   (b) GNU tar --listed-incremental: the level-1 archive made with set 2
#       pinned (level 0 with set 1) holds the directories and only the 12
#       changed and new files, and level 0 + level 1 restore set 2 exactly;
#   (c) rsync -a --delete --itemize-changes from current/ (set 2) to a copy
#       made from set 1 lists only the changed, new and removed files and the
#       4 directories whose entries changed; the copy is then set 2;
#   (d) restic: the second backup finds 1988 files unmodified, 10 changed and
#       2 new; borg: the second create lists ('M'/'A', --filter=AM) exactly
#       the 10 changed files as M and the 2 new ones as A.
# restic and borg parts are skipped, and said so, when they are not installed.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd jq btrfs python3 tar rsync
[ -e /dev/fuse ] || skip "no /dev/fuse"

make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"

modified=(d00/f010 d01/f011 d02/f012 d03/f013 d04/f014 d05/f015 d06/f016 d07/f017 d08/f018 d09/f019)
added=(d10/new-a d11/new-b)
removed=(d12/f050 d13/f051)
changed_dirs=(d10 d11 d12 d13)

python3 - "$vol" <<'EOF' || fail "cannot populate $vol"
import os, sys
root = sys.argv[1]
for d in range(20):
    os.mkdir(f"{root}/d{d:02}")
    for f in range(100):
        with open(f"{root}/d{d:02}/f{f:03}", "w") as fh:
            fh.write(f"d{d:02}/f{f:03} version 1\n")
EOF
# The files to be removed are written last: borg leaves the file of the
# newest ctime out of its files cache, and so would take it for new next time.
for f in "${removed[@]}"; do
	echo "$f version 1, again" >"$vol/$f"
done
[ "$(find "$vol" -type f | wc -l)" = 2000 ] || fail "the volume does not hold 2000 files"
# rsync compares times in whole seconds: a directory it writes into within the
# second of the source's mtime keeps the time of that write. What rsync writes
# must come in a later second than the volume's times (and again after the
# changes below).
sleep 1

view=$T/view
cur=$view/current
set1=$(create_set "$vol") || fail "stillfs create of set 1 failed"
name=$(stillfs show --json "$set1" | jq -er '.volumes[0].name')
snap1=$(snapshot_path "$set1")
mount_view "$view"
pin() {
	timeout 60 "$STILLFS" --catalog "$CATALOG" pin --view "$view" "$1" 2>"$T/pin.err" ||
		fail "stillfs pin $1 failed: $(cat "$T/pin.err")"
}
pin "$set1"
V=$cur/$name
[ -d "$V/d00" ] || fail "current/ does not show set 1 after pin: $(ls -A "$cur" 2>&1)"

# record DIR SNAP OUT: one JSON line per entry of DIR (the view), with its
# stat, the snapshot's inode number of the same path, and whether the content
# equals the snapshot's
record() {
	python3 - "$1" "$2" "$3" <<'EOF'
import json, os, stat, sys
top, snap, out = sys.argv[1:4]
recs = {}
for root, dirs, files in os.walk(top):
    rel_root = os.path.relpath(root, top)
    entries = [rel_root] if rel_root == "." else []
    entries += [os.path.normpath(os.path.join(rel_root, n)) for n in dirs + files]
    for rel in entries:
        st = os.lstat(os.path.join(top, rel))
        sn = os.lstat(os.path.join(snap, rel))
        r = {"dev": st.st_dev, "ino": st.st_ino, "mode": st.st_mode, "nlink": st.st_nlink,
             "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size,
             "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns, "snap_ino": sn.st_ino}
        if stat.S_ISREG(st.st_mode):
            with open(os.path.join(top, rel), "rb") as a, open(os.path.join(snap, rel), "rb") as b:
                r["same_content"] = a.read() == b.read()
        recs[rel] = r
json.dump(recs, open(out, "w"))
EOF
}
record "$V" "$snap1" "$T/rec1.json" || fail "cannot record current/ with set 1 pinned"

# (b) level 0, (c) the copy, (d) the first backups, all with set 1 pinned
tar --format=posix -C "$cur" -cf "$T/level0.tar" --listed-incremental="$T/tar.snar" "$name" 2>"$T/tar.err" ||
	fail "tar level 0 through current/ failed: $(cat "$T/tar.err")"
rsync -a "$V/" "$T/copy/" 2>"$T/rsync.err" || fail "rsync from current/ failed: $(cat "$T/rsync.err")"

have_restic=0 have_borg=0
if command -v restic >/dev/null; then
	have_restic=1
	export RESTIC_PASSWORD=x RESTIC_REPOSITORY=$T/restic RESTIC_CACHE_DIR=$T/restic-cache
	timeout 120 restic init --quiet >"$T/restic.out" 2>&1 || fail "restic init failed: $(cat "$T/restic.out")"
	# restic_backup N: backs up current/<volume>; prints the summary
	restic_backup() {
		timeout 300 restic backup --json --host stillfs-test "$V" >"$T/restic$1.json" 2>"$T/restic$1.err" ||
			fail "restic backup $1 failed: $(cat "$T/restic$1.err")"
		jq -c 'select(.message_type == "summary")' "$T/restic$1.json"
	}
	s=$(restic_backup 1)
	[ "$(jq -r .files_new <<<"$s")" = 2000 ] || fail "the first restic backup did not take 2000 new files: $s"
else
	log "SKIP (d) restic: not installed (Debian package restic)"
fi
if command -v borg >/dev/null; then
	have_borg=1
	export BORG_REPO=$T/borg BORG_BASE_DIR=$T/borg-home
	export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
	timeout 120 borg init --encryption=none >"$T/borg.out" 2>&1 || fail "borg init failed: $(cat "$T/borg.out")"
	# borg_create N: archives current/<volume>; prints its A/M lines as "A rel/path"
	borg_create() {
		timeout 300 borg create --stats --list --filter=AM "::set$1" "$V" >"$T/borg$1.log" 2>&1 ||
			fail "borg create $1 failed: $(cat "$T/borg$1.log")"
		grep -E '^[AM] ' "$T/borg$1.log" | sed -E "s#^([AM]) /?${V#/}/#\\1 #" | sort
	}
	n=$(borg_create 1 | grep -c '^A ')
	[ "$n" = 2000 ] || fail "the first borg create listed $n files as added, not 2000: $(head -20 "$T/borg1.log")"
else
	log "SKIP (d) borg: not installed (Debian package borgbackup)"
fi

# --- the changes, set 2 ---
for f in "${modified[@]:0:5}"; do
	echo "$f version 2" >"$vol/$f" # the same size
done
for f in "${modified[@]:5}"; do
	echo "$f version 2, longer" >"$vol/$f"
done
for f in "${added[@]}"; do
	echo "$f new" >"$vol/$f"
done
for f in "${removed[@]}"; do
	rm "$vol/$f"
done
sleep 1 # see above; the changed files' times are already in a later second than set 1's
set2=$(create_set "$vol") || fail "stillfs create of set 2 failed"
snap2=$(snapshot_path "$set2")
pin "$set2"
for f in "${added[@]}"; do
	[ -e "$V/$f" ] || fail "right after pin of set 2, current/ does not show $f"
done
record "$V" "$snap2" "$T/rec2.json" || fail "cannot record current/ with set 2 pinned"

### (a) identity
python3 - "$T/rec1.json" "$T/rec2.json" "$snap1" "$snap2" "$(stat -c %d "$view")" \
	"${modified[*]}" "${added[*]}" "${removed[*]}" "${changed_dirs[*]}" <<'EOF' || fail "(a) identity through current/ (lines above)"
import json, os, sys
r1, r2 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
snap1, snap2, dev = sys.argv[3], sys.argv[4], int(sys.argv[5])
modified, added, removed, cdirs = (set(a.split()) for a in sys.argv[6:10])
bad = 0
def problem(msg):
    global bad
    print(msg)
    bad = 1

if set(r1) - removed != set(r2) - added or not added <= set(r2) or not removed <= set(r1) \
        or added & set(r1) or removed & set(r2):
    problem(f"names: only under set 1: {sorted(set(r1) - set(r2))}, only under set 2: {sorted(set(r2) - set(r1))}")
if len(r1) != 2021:
    problem(f"{len(r1)} entries under set 1, not 2021")
keys = set()
for which, recs in (("set 1", r1), ("set 2", r2)):
    for p, r in recs.items():
        ino = r["ino"]
        if r["dev"] != dev:
            problem(f"{which}: {p}: st_dev {r['dev']}, the view's is {dev}")
        if ino >> 63 != 1 or ino & ((1 << 40) - 1) != r["snap_ino"]:
            problem(f"{which}: {p}: st_ino {ino:#x} is not 1<<63 | key<<40 | {r['snap_ino']:#x}")
        keys.add((ino >> 40) & ((1 << 23) - 1))
        if r.get("same_content") is False:
            problem(f"{which}: {p}: content differs from the snapshot")
if len(keys) != 1:
    problem(f"the volume has several keys in st_ino: {sorted(keys)}")

fields = ("dev", "ino", "mode", "nlink", "uid", "gid", "size", "mtime", "ctime")
unchanged = set(r1) & set(r2) - modified - cdirs
for p in sorted(unchanged):
    a, b = r1[p], r2[p]
    diff = [f"{k} {a[k]} vs {b[k]}" for k in fields if a[k] != b[k]]
    if not diff:
        continue
    # is it the filesystem? the same on the snapshots themselves
    s1, s2 = os.lstat(os.path.join(snap1, p)), os.lstat(os.path.join(snap2, p))
    same_on_snaps = (s1.st_ino, s1.st_size, s1.st_mtime_ns, s1.st_ctime_ns) == (s2.st_ino, s2.st_size, s2.st_mtime_ns, s2.st_ctime_ns)
    problem(f"unchanged {p} looks different under set 2: {', '.join(diff)}"
            + ("" if same_on_snaps else " (its snapshots differ too: the test's assumption is wrong)"))
for p in sorted(modified | cdirs):
    if r1[p]["ino"] != r2[p]["ino"]:
        problem(f"changed {p}: st_ino changed ({r1[p]['ino']:#x} vs {r2[p]['ino']:#x}); it is the same file")
    if r1[p]["mtime"] == r2[p]["mtime"]:
        problem(f"changed {p}: the same mtime under both sets")
print(f"{len(unchanged)} unchanged entries identical under both pins; {len(modified | cdirs)} changed ones differ")
sys.exit(bad)
EOF
log "(a) unchanged files and directories look the same under both pins"

### (b) tar --listed-incremental
tar --format=posix -C "$cur" -cf "$T/level1.tar" --listed-incremental="$T/tar.snar" "$name" 2>"$T/tar.err" ||
	fail "tar level 1 through current/ failed: $(cat "$T/tar.err")"
tar -tvf "$T/level1.tar" >"$T/level1.list" || fail "tar -tv of the level-1 archive failed"
got=$(awk '$1 !~ /^d/ { print $NF }' "$T/level1.list" | sort)
want=$(printf "$name/%s\n" "${modified[@]}" "${added[@]}" | sort)
[ "$got" = "$want" ] || fail "(b) the level-1 tar archive holds other files than the changed ones:
$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -40)"
ndirs=$(awk '$1 ~ /^d/' "$T/level1.list" | wc -l)
[ "$ndirs" = 21 ] || fail "(b) the level-1 archive holds $ndirs directories, not 21"
mkdir "$T/restore"
tar -C "$T/restore" -xf "$T/level0.tar" --listed-incremental=/dev/null || fail "extracting level 0 failed"
tar -C "$T/restore" -xf "$T/level1.tar" --listed-incremental=/dev/null || fail "extracting level 1 failed"
tool treecmp "$snap2" "$T/restore/$name" || fail "(b) level 0 + level 1 do not restore set 2 (treecmp lines above)"
log "(b) tar: the level-1 archive holds only the 12 changed and new files; levels 0+1 restore set 2"

### (c) rsync
rsync -a --delete --itemize-changes "$V/" "$T/copy/" >"$T/rsync.out" 2>"$T/rsync.err" ||
	fail "rsync from current/ (set 2) failed: $(cat "$T/rsync.err")"
got=$(awk '{ c = substr($0, 1, 11); p = substr($0, 13); sub(/\/$/, "", p)
	if (c ~ /^\*deleting/) k = "deleted"; else if (c ~ /^>f\+/) k = "new"; else if (c ~ /^>f/) k = "changed"
	else if (c ~ /^\.d/) k = "dir"; else k = "other:" c
	print k, p }' "$T/rsync.out" | sort)
want=$({
	printf 'changed %s\n' "${modified[@]}"
	printf 'new %s\n' "${added[@]}"
	printf 'deleted %s\n' "${removed[@]}"
	printf 'dir %s\n' "${changed_dirs[@]}"
} | sort)
[ "$got" = "$want" ] || fail "(c) rsync --itemize-changes from set 2 to the copy of set 1 listed other changes:
$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -40)"
tool treecmp "$snap2" "$T/copy" || fail "(c) the rsync copy is not set 2 (treecmp lines above)"
log "(c) rsync: only the changed, new and removed files and their directories"

### (d) restic and borg
if [ "$have_restic" = 1 ]; then
	s=$(restic_backup 2)
	got=$(jq -c '{files_unmodified, files_changed, files_new}' <<<"$s")
	[ "$got" = '{"files_unmodified":1988,"files_changed":10,"files_new":2}' ] ||
		fail "(d) the second restic backup reports $got, not 1988 unmodified, 10 changed, 2 new: $s"
	log "(d) restic: $got"
fi
if [ "$have_borg" = 1 ]; then
	got=$(borg_create 2)
	want=$({
		printf 'M %s\n' "${modified[@]}"
		printf 'A %s\n' "${added[@]}"
	} | sort)
	[ "$got" = "$want" ] || fail "(d) the second borg create listed other files as added or modified:
$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -40)"
	log "(d) borg: only the 10 changed files (M) and the 2 new ones (A)"
fi

timeout 60 "$STILLFS" --catalog "$CATALOG" unpin --view "$view" 2>"$T/unpin.err" || fail "stillfs unpin failed: $(cat "$T/unpin.err")"
timeout 30 "$STILLFS" umount "$view" 2>"$T/umount.err" || fail "stillfs umount $view failed: $(cat "$T/umount.err")"
log "ok"
