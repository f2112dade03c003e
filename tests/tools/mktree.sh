#!/bin/bash
# mktree.sh DIR [--big]
#
# Fills DIR (an existing, empty directory; run as root, on btrfs or tmpfs)
# with every kind of file a backup must carry: regular files of several sizes
# with random content, sparse files, hard-link groups, symlinks, a fifo, a
# socket, device nodes, user/trusted xattrs, POSIX ACLs, names using every
# byte 0x01-0xff but '/', a 255-byte name, a directory chain deeper than
# PATH_MAX, special modes, numeric owners, and nanosecond times (set last,
# directories after their contents). With --big it adds a sparse file larger
# than 4 GiB with data beyond 4 GiB. The content is random, so two runs give
# different trees; compare copies of one run.

set -euo pipefail
export LC_ALL=C

usage() { echo "usage: mktree.sh DIR [--big]" >&2; exit 2; }
die() { echo "mktree: $*" >&2; exit 1; }

[ $# -ge 1 ] || usage
dir=$1
shift
big=0
while [ $# -gt 0 ]; do
	case $1 in
	--big) big=1 ;;
	*) usage ;;
	esac
	shift
done
[ -d "$dir" ] || die "'$dir' is not a directory"
[ -z "$(ls -A -- "$dir")" ] || die "'$dir' is not empty"
[ "$(id -u)" -eq 0 ] || die "needs root (mknod, chown, trusted.* xattrs)"
for c in setfattr setfacl python3 mknod; do
	command -v "$c" >/dev/null 2>&1 || die "needs $c"
done

cd -P -- "$dir"

# rand FILE SIZE: a file of SIZE random bytes.
rand() { head -c "$2" /dev/urandom >"$1"; }

# put FILE OFFSET SIZE: random data at OFFSET without truncating.
put() { head -c "$3" /dev/urandom | dd of="$1" bs=64K seek="$2" oflag=seek_bytes conv=notrunc status=none; }

### regular files
mkdir files
: >files/empty
rand files/one 1
rand files/f4095 4095
rand files/f4096 4096
rand files/f4097 4097
rand files/f65543 65543
rand files/f1m 1048579
rand files/f3m 3145728
printf 'line one\nline two\n' >files/text

### sparse files
mkdir sparse
# data, hole, data, hole at the end
put sparse/dhdh 0 65536
put sparse/dhdh 1048576 4101
truncate -s 3145728 sparse/dhdh
# hole first, then data at the end
put sparse/hd 2097152 5000
# nothing but a hole
truncate -s 10485760 sparse/hole
# data ends inside the last page
put sparse/tail 0 100
put sparse/tail 600000 3
if [ "$big" -eq 1 ]; then
	# data at 0 and beyond 4 GiB, a hole at the end: 5 GiB apparent size
	put sparse/big 0 4096
	put sparse/big $(((4 << 30) + 12305)) 70000
	truncate -s $((5 << 30)) sparse/big
fi

### hard links: a group of 2 and a group of 3, across directories
mkdir -p links/a links/b links/c
rand links/a/h2 12345
ln links/a/h2 links/b/h2-second
rand links/a/h3 777
ln links/a/h3 links/b/h3-second
ln links/a/h3 links/c/h3-third
# a hard-linked empty file and a hard-linked symlink (btrfs and tmpfs allow it)
: >links/a/h-empty
ln links/a/h-empty links/c/h-empty-second
ln -s ../a/h2 links/a/sl
ln links/a/sl links/b/sl-second

### symlinks
mkdir symlinks
ln -s ../files/one symlinks/relative
ln -s /etc/hostname symlinks/absolute
ln -s does/not/exist symlinks/dangling
ln -s ../files symlinks/to-dir
# 3000 bytes; an XFS symlink holds at most 1023, so there the longest it takes
ln -s "$(printf 'x%.0s' {1..3000})" symlinks/long-target 2>/dev/null ||
	ln -s "$(printf 'x%.0s' {1..1023})" symlinks/long-target
ln -s . symlinks/self-dir

### special files
mkdir special
mkfifo special/fifo
(cd special && python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.bind("socket")')
mknod special/null c 1 3
mknod special/chr c 240 300
mknod special/blk b 259 65537

### xattrs
mkdir xattr
rand xattr/file 100
setfattr -n user.small -v hello xattr/file
setfattr -n user.big -v "$(head -c 2304 /dev/urandom | base64 -w0)" xattr/file
setfattr -n user.binary -v 0x00ff00017f80 xattr/file
setfattr -n user.empty xattr/file
setfattr -n trusted.t -v trusted-value xattr/file
mkdir xattr/dir
setfattr -n user.d -v dir-value xattr/dir
setfattr -n trusted.d -v 0x0102030405 xattr/dir
ln -s file xattr/symlink
setfattr -h -n trusted.s -v on-a-symlink xattr/symlink
mkfifo xattr/fifo
setfattr -n trusted.f -v on-a-fifo xattr/fifo

### POSIX ACLs
mkdir acl
rand acl/file 10
setfacl -m u:1234:rw-,g:5678:r--,m::rw- acl/file
mkdir acl/dir
setfacl -m u:1234:rwx,g:5678:r-x acl/dir
setfacl -d -m u:1234:rwx,g:5678:r-x,o::--- acl/dir
# inherits the default ACL
rand acl/dir/inherited 10
mkdir acl/dir/subdir

### names: every byte 0x01-0xff but '/', a 255-byte name
mkdir names
for r in "01 1f" "20 2e" "30 5f" "60 7f" "80 bf" "c0 ff"; do
	read -r lo hi <<<"$r"
	n=""
	for ((i = 16#$lo; i <= 16#$hi; i++)); do
		# shellcheck disable=SC2059 # the \x escape is the point
		printf -v c "\\x$(printf %02x "$i")"
		n+=$c
	done
	printf '%s' "$n" >"names/$n"
done
long=$(printf 'L%.0s' {1..255})
rand "names/$long" 255
mkdir "names/d$(printf 'D%.0s' {1..254})"
: >names/-leading-dash
: >names/.hidden
: >"names/ leading space"
: >"names/trailing space "
printf 'utf8' >"names/$(printf '\xc3\xa9t\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80')"
# invalid UTF-8
printf 'bad' >"names/$(printf '\xff\xfe\xc3')"

### a directory chain deeper than PATH_MAX
mkdir deep
(
	cd -P deep
	seg=$(printf 'p%.0s' {1..250})
	for i in $(seq -w 1 20); do
		mkdir "$i$seg"
		cd -P "$i$seg"
	done
	rand bottom 5000
	ln -s ../bottom up-link
	mkdir last
)

### modes
mkdir modes
for m in 4755 2755 6755 7777 0000 0600 0755 0444 0111 1644; do
	rand "modes/f$m" 33
	chmod "$m" "modes/f$m"
done
mkdir modes/sticky modes/setgid modes/d0500 modes/d0000 modes/d0711
rand modes/d0500/inside 20
rand modes/d0000/inside 21
chmod 1777 modes/sticky
chmod 2775 modes/setgid
chmod 0500 modes/d0500
chmod 0000 modes/d0000
chmod 0711 modes/d0711

### owners (numeric ids that need not exist); chown before chmod keeps setuid
mkdir owners
for o in 1234:5678 0:5678 1234:0 65534:65534 100000:200000 4294967294:4294967294; do
	rand "owners/f-${o/:/-}" 7
	chown "$o" "owners/f-${o/:/-}"
done
rand owners/suid-owned 9
chown 1234:5678 owners/suid-owned
chmod 6750 owners/suid-owned
mkdir owners/dir
chown 2000:3000 owners/dir
ln -s target owners/symlink
chown -h 3000:4000 owners/symlink
mkfifo owners/fifo
chown 5000:6000 owners/fifo

### times outside the usual range
mkdir times
: >times/before-epoch
: >times/after-2038
: >times/zero-ns
: >times/epoch

mkdir emptydir

### times, last: every entry gets its own atime and mtime with nanoseconds,
### directories after their contents. Relative steps, so depth is no limit.
n=0
base=1600000000
settime() {
	n=$((n + 1))
	local ns
	ns=$(printf '%09d' $(((n * 7919 + 123456789) % 1000000000)))
	touch -h -a -d "@$((base - 86400 * 7 + n * 3607)).$ns" -- "$1"
	touch -h -m -d "@$((base + n * 3607)).$ns" -- "$1"
}
settimes() {
	local e
	for e in *; do
		if [ -d "$e" ] && [ ! -L "$e" ]; then
			cd -P -- "$e"
			settimes
			cd ..
		fi
		settime "$e"
	done
}
shopt -s dotglob nullglob
# directories whose mode forbids listing are still listed: we are root
settimes
touch -h -m -d '1969-07-20 20:17:40.987654321 UTC' times/before-epoch
touch -h -m -d '2100-02-28 23:59:59.000000001 UTC' times/after-2038
touch -h -m -d '2020-01-01 00:00:00.000000000 UTC' times/zero-ns
touch -h -m -d '@0' times/epoch
touch -h -m -d '2021-06-01 12:00:00.5 UTC' times
settime .
