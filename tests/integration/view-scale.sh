#!/bin/bash
# view-scale: the view holds no descriptor per inode. A tree of 40,000 files
# is walked, stat'ed and read through a view whose daemon may open only 64
# descriptors, with the kernel dropping its inode cache in the middle of the
# walk (inodes forgotten and looked up again); every entry and every byte
# matches the snapshot. Listings read in part (a reader that stops early,
# one that goes back with seekdir) give the same entries as whole ones.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd btrfs perl python3 sha256sum
[ -e /dev/fuse ] || skip "no /dev/fuse"

MNT=$(make_btrfs fs 2G)
make_subvolume "$MNT/vol"
python3 - "$MNT/vol" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(40):
    dp = os.path.join(root, "d%02d" % d)
    os.mkdir(dp)
    for i in range(1000):
        with open(os.path.join(dp, "f%04d" % i), "wb") as f:
            f.write(("%d/%d\n" % (d, i)).encode() * (1 + i % 50))
PY
id=$(create_set "$MNT/vol") || fail "stillfs create"
SNAP=$(snapshot_path "$id")
name=$(stillfs show --json "$id" | jq -r '.volumes[0].name')

mkdir -p "$T/view"
(
	ulimit -n 64
	timeout 30 "$STILLFS" --catalog "$CATALOG" mount "$T/view"
) || fail "stillfs mount with 64 descriptors"
wait_for 10 is_mounted "$T/view"
V="$T/view/latest/$name"

(cd "$SNAP" && find . -printf '%p %s %m %T@ %n\n' | sort) >"$T/native.list"

# the first listing of each directory: stop after a few entries, or go back
# and read again, while the view may be building the reply that comes next
perl -e '
	my ($root, $want) = @ARGV;
	for my $i (0 .. 39) {
		my $dir = sprintf("%s/d%02d", $root, $i);
		opendir(my $d, $dir) or die "opendir $dir: $!\n";
		my @head = map { scalar readdir($d) } 1 .. 1 + $i * 7;
		if ($i % 2 == 0) {
			closedir($d);
			next;
		}
		my $pos = telldir($d);
		my @a = map { scalar readdir($d) } 1 .. 300;
		seekdir($d, $pos);
		my @b = map { scalar readdir($d) } 1 .. 300;
		"@a" eq "@b" or die "$dir: 300 entries after seekdir differ\n";
		rewinddir($d);
		my @all = sort grep { $_ ne "." && $_ ne ".." } readdir($d);
		closedir($d);
		@all == $want or die "$dir: listed " . scalar(@all) . " entries, not $want\n";
		for my $n (@head, @a) {
			grep { $_ eq $n } (@all, ".", "..") or die "$dir: $n is not listed again\n";
		}
	}
' "$V" 1000 || fail "listings read in part through the view"

# drop the kernel's dentries and inodes repeatedly while the view is walked
(
	for _ in $(seq 20); do
		echo 2 >/proc/sys/vm/drop_caches
		sleep 0.2
	done
) &
dropper=$!
track_pid "$dropper"
(cd "$V" && find . -printf '%p %s %m %T@ %n\n' | sort) >"$T/view.list" || fail "find through the view"
wait "$dropper" || true

n=$(wc -l <"$T/view.list")
[ "$n" -ge 40041 ] || fail "the walk through the view saw $n entries"
diff -q "$T/native.list" "$T/view.list" >/dev/null ||
	fail "the walk through the view differs: $(diff "$T/native.list" "$T/view.list" | head -5)"

(cd "$SNAP" && find . -type f -print0 | sort -z | xargs -0 cat | sha256sum) >"$T/native.sum"
echo 2 >/proc/sys/vm/drop_caches
(cd "$V" && find . -type f -print0 | sort -z | xargs -0 cat | sha256sum) >"$T/view.sum" ||
	fail "reading every file through the view"
cmp -s "$T/native.sum" "$T/view.sum" || fail "the content read through the view differs"

pid=$(pgrep -f "stillfs --catalog $CATALOG mount $T/view" | head -1)
if [ -n "$pid" ]; then
	fds=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
	log "daemon: $fds descriptors open, $(grep VmHWM "/proc/$pid/status" | tr -s ' ')"
fi
stillfs umount "$T/view" || fail "stillfs umount"
log "$n entries walked and read with 64 descriptors while the kernel forgot inodes"
