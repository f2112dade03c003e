#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# What stillfs refuses, and how. Every refusal must exit non-zero (2 for a
# usage error, 1 for any other failure) with exactly one line on standard
# error that names what was wrong (the path, the id, the option), print nothing
# on standard output, and leave nothing behind: no new set in the catalog, no
# new entry under the storage directory, no new subvolume, no new mount, no
# daemon. A damaged or foreign catalog is reported and left byte for byte as it
# was. Help and version always work, for every user.
#
# All cases run, and the test fails at the end listing every one that did not
# behave, so that one bad refusal does not hide the others.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmd jq sha256sum sqlite3 setpriv pgrep btrfs

NOBODY=65534

# not in $(...): make_btrfs must record its loop device in this shell for cleanup
make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"
echo data >"$vol/file"
mkdir "$fs/plain"
echo data >"$fs/plain/file"

# a baseline set, so that the catalog and the storage directory exist and a
# refusal that adds to them shows
base=$(create_set --label baseline "$vol") || fail "stillfs create of the baseline set failed"
[ -n "$base" ] || fail "stillfs create printed no id"
storage=$(stillfs show --json "$base" | jq -er '.volumes[0].storage') ||
	fail "no storage directory in 'show --json $base'"
[ -d "$storage" ] || fail "storage '$storage' of set $base is not a directory"

# a filesystem that is not btrfs
mkdir "$T/tmpfs"
mount -t tmpfs -o size=16m stillfs-test "$T/tmpfs" || fail "cannot mount a tmpfs on $T/tmpfs"
mkdir "$T/tmpfs/dir"
echo data >"$T/tmpfs/dir/file"

mkdir "$T/io" # what the commands print, outside what state() compares

# Everything a refusal must leave as it was.
state() {
	stillfs list --json | jq -c '[.[] | {id, state, token}]'
	find "$fs/.stillfs" | sort
	btrfs subvolume list "$fs" | awk '{ print $NF }' | sort
	awk -v t="$T" 'index($5, t) == 1 { print $5, $(NF - 2) }' /proc/self/mountinfo | sort
	pgrep -f -- "$T/" | sort || true
	ls -A "$T"
}

# refuse RC NEEDLE COMMAND...: COMMAND must exit with status RC ("nz": any
# non-zero), print nothing on stdout and exactly one line on stderr that
# contains NEEDLE, and leave state() unchanged.
refuse() {
	local want=$1 needle=$2 before after rc=0 nlines
	shift 2
	local cmd=("$@")
	# timeout runs programs, not the shell functions of lib.sh
	case $1 in
	stillfs) cmd=("$STILLFS" --catalog "$CATALOG" "${@:2}") ;;
	as_nobody) cmd=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups -- "$STILLFS" "${@:2}") ;;
	esac
	before=$(state) || fail "cannot take the state before: $*"
	timeout 60 "${cmd[@]}" >"$T/io/out" 2>"$T/io/err" || rc=$?
	after=$(state) || fail "cannot take the state after: $*"
	nlines=$(wc -l <"$T/io/err")
	if [ "$want" = nz ]; then
		[ "$rc" -ne 0 ] || problem "'$*' succeeded; it must be refused"
	else
		[ "$rc" -eq "$want" ] || problem "'$*' exited $rc, not $want; stderr: $(cat "$T/io/err")"
	fi
	[ "$nlines" -eq 1 ] ||
		problem "'$*' printed $nlines lines on stderr, not one: $(cat "$T/io/err")"
	grep -qF -- "$needle" "$T/io/err" ||
		problem "'$*': stderr does not name '$needle': $(cat "$T/io/err")"
	[ ! -s "$T/io/out" ] || problem "'$*' printed on stdout: $(cat "$T/io/out")"
	[ "$before" = "$after" ] ||
		problem "'$*' left something behind: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]')"
	log "refused ($rc): $*: $(head -n 3 "$T/io/err")"
	rm -f "$T/io/out" "$T/io/err"
}

# --- create ---
refuse 1 "$T/nonexistent" stillfs create "$T/nonexistent"
refuse 1 "$vol/file" stillfs create "$vol/file"
# btrfs asked for where it cannot serve (any other directory gets the copy
# provider, tested in copy-provider.sh); each says what btrfs needs
refuse 1 "$fs/plain" stillfs create --provider btrfs "$fs/plain"
stillfs create --provider btrfs "$fs/plain" 2>"$T/io/err" >/dev/null || true
grep -qi 'subvolume' "$T/io/err" ||
	problem "refusing btrfs for a plain directory does not say a subvolume is needed"
refuse 1 "$T/tmpfs/dir" stillfs create --provider btrfs "$T/tmpfs/dir"
stillfs create --provider btrfs "$T/tmpfs/dir" 2>"$T/io/err" >/dev/null || true
grep -qi 'btrfs' "$T/io/err" ||
	problem "refusing btrfs for a directory on tmpfs does not say that btrfs is needed"
refuse 1 /proc/sys stillfs create /proc/sys
refuse 2 "no-such-provider" stillfs create --provider no-such-provider "$vol"
# one good volume and one bad: nothing at all is made
refuse 1 "$T/tmpfs/dir" stillfs create --provider btrfs "$vol" "$T/tmpfs/dir"
refuse 1 "$T/nonexistent" stillfs create "$vol" "$T/nonexistent"
refuse 1 "$vol" stillfs create "$vol" "$vol"
refuse 1 "$vol/../vol" stillfs create "$vol" "$vol/../vol"
ln -s "$vol" "$T/vol-link"
refuse 1 "$T/vol-link" stillfs create "$T/vol-link" "$vol"
refuse 2 "volume" stillfs create
refuse 2 "volume" stillfs create --label only-a-label
refuse 2 "label" stillfs create --label "$(printf 'two\nlines')" "$vol"
# free space where the snapshots go: asked for more than there is, and a
# storage filesystem that is full (the default asks for 5%); the storage
# directory is not even made
refuse 1 "less than --min-free 99%" stillfs create --min-free 99% "$vol"
refuse 1 "less than --min-free 1.0 TiB" stillfs create --min-free 1T "$vol"
refuse 2 "--min-free" stillfs create --min-free 5x "$vol"
refuse 2 "--min-free" stillfs create --min-free 100% "$vol"
dd if=/dev/zero of="$T/tmpfs/fill" bs=1M status=none 2>/dev/null || true
refuse 1 "not enough free space" stillfs create --storage "$T/tmpfs/copies" "$fs/plain"
[ ! -e "$T/tmpfs/copies" ] || problem "a refused create made its storage directory"
rm -f "$T/tmpfs/fill"

# --- usage ---
refuse 2 "frobnicate" stillfs frobnicate
refuse 2 "--no-such-option" stillfs create --no-such-option "$vol"
refuse 2 "--no-such-option" stillfs list --no-such-option
refuse 2 "--no-such-option" stillfs mount --no-such-option "$T/tmpfs"
refuse 2 "catalog" "$STILLFS" list --catalog

# --- show, delete, mount --set of an unknown id ---
refuse 1 "deadbeef" stillfs show deadbeef
refuse 1 "deadbeef" stillfs show --json deadbeef
refuse 1 "@GMT-2001.01.01-00.00.00" stillfs show @GMT-2001.01.01-00.00.00
refuse 1 "deadbeef" stillfs delete deadbeef
mkdir "$T/mp"
refuse 1 "deadbeef" stillfs mount --set deadbeef "$T/mp"
is_mounted "$T/mp" && problem "mount --set deadbeef left a mount on $T/mp"

# --- mount points ---
refuse 1 "$T/missing" stillfs mount "$T/missing"
refuse 1 "$vol/file" stillfs mount "$vol/file"
# a mount point that is already in use: by another view, and by a tmpfs
mount_view "$T/mp"
ls "$T/mp" >/dev/null || fail "the first view on $T/mp does not answer"
refuse 1 "$T/mp" stillfs mount "$T/mp"
refuse 1 "$T/tmpfs" stillfs mount "$T/tmpfs"
n=$(awk -v m="$T/mp" '$5 == m' /proc/self/mountinfo | wc -l)
[ "$n" -eq 1 ] || problem "$n mounts on $T/mp after a refused second mount, not 1"
ls "$T/mp" >/dev/null || problem "the view on $T/mp stopped answering after a refused second mount"

# --- umount of what is not a view ---
refuse 1 "$T/tmpfs" stillfs umount "$T/tmpfs"
is_mounted "$T/tmpfs" || fail "stillfs umount unmounted a tmpfs"
refuse 1 "$fs" stillfs umount "$fs"
is_mounted "$fs" || fail "stillfs umount unmounted the btrfs filesystem"
mkdir "$T/plaindir"
refuse 1 "$T/plaindir" stillfs umount "$T/plaindir"
refuse 1 "$T/missing" stillfs umount "$T/missing"
timeout 30 "$STILLFS" umount "$T/mp" || fail "stillfs umount $T/mp failed"
wait_for 10 bash -c "! mountpoint -q '$T/mp'"

# --- damaged and foreign catalogs: reported, never changed ---
# catalog_check NAME DIR NEEDLE: list, list --json, show, create and gc with the
# catalog DIR/catalog.db all fail with a line naming it, and leave DIR as it was.
catalog_check() {
	local name=$1 dir=$2 db=$2/catalog.db sum_before listing_before
	sum_before=$(cd "$dir" && sha256sum -- *)
	listing_before=$(ls -la --time-style=+ "$dir")
	for args in "list" "list --json" "show $base" "gc" "create $vol" "delete $base"; do
		# shellcheck disable=SC2086 # args are words
		refuse 1 "$db" env STILLFS_CATALOG="$db" "$STILLFS" $args
	done
	[ "$(cd "$dir" && sha256sum -- *)" = "$sum_before" ] ||
		problem "catalog $name: files changed: $(cd "$dir" && sha256sum -- *)"
	[ "$(ls -la --time-style=+ "$dir")" = "$listing_before" ] ||
		problem "catalog $name: directory changed: $(ls -la "$dir")"
}

mkdir "$T/cat-random" "$T/cat-empty" "$T/cat-foreign" "$T/cat-newer" "$T/cat-missing"
head -c 65536 /dev/urandom >"$T/cat-random/catalog.db"
catalog_check random-bytes "$T/cat-random"

: >"$T/cat-empty/catalog.db"
catalog_check empty-file "$T/cat-empty"

sqlite3 "$T/cat-foreign/catalog.db" \
	'CREATE TABLE messages(id INTEGER PRIMARY KEY, body TEXT);
	 INSERT INTO messages(body) VALUES ("hello"), ("world");' ||
	fail "cannot make a foreign SQLite database"
catalog_check foreign-sqlite "$T/cat-foreign"

# a real catalog from a newer stillfs: made by this one, then its schema version raised
env STILLFS_CATALOG="$T/cat-newer/catalog.db" timeout 120 "$STILLFS" create "$vol" >/dev/null ||
	fail "cannot make a second catalog"
sqlite3 "$T/cat-newer/catalog.db" 'PRAGMA user_version = 99; PRAGMA wal_checkpoint(TRUNCATE);' \
	>/dev/null || fail "cannot set user_version"
[ "$(sqlite3 "$T/cat-newer/catalog.db" 'PRAGMA user_version')" = 99 ] ||
	fail "user_version did not stick"
catalog_check user-version-99 "$T/cat-newer"

# a missing catalog: reading commands say so and do not make one
for args in "list" "list --json" "show $base" "gc"; do
	# shellcheck disable=SC2086 # args are words
	refuse 1 "$T/cat-missing/catalog.db" env STILLFS_CATALOG="$T/cat-missing/catalog.db" "$STILLFS" $args
done
[ -z "$(ls -A "$T/cat-missing")" ] ||
	problem "reading a missing catalog created files: $(ls -A "$T/cat-missing")"
# a create that is refused has no effect at all: not even a new, empty catalog
refuse 1 "$T/nonexistent" env STILLFS_CATALOG="$T/cat-missing/catalog.db" "$STILLFS" create "$T/nonexistent"
refuse 1 "$fs/plain" env STILLFS_CATALOG="$T/cat-missing/catalog.db" "$STILLFS" create --provider btrfs "$fs/plain"
[ -z "$(ls -A "$T/cat-missing")" ] ||
	problem "a refused create made a catalog where there was none: $(ls -A "$T/cat-missing")"
# a directory where the catalog should be
refuse 1 "$T/cat-missing" stillfs --catalog "$T/cat-missing" list
# --catalog wins over STILLFS_CATALOG
out=$(env STILLFS_CATALOG="$T/cat-random/catalog.db" "$STILLFS" --catalog "$CATALOG" list --json) ||
	problem "--catalog does not override STILLFS_CATALOG"
jq -e --arg id "$base" 'any(.[]; .id == $id)' <<<"$out" >/dev/null ||
	problem "list with --catalog does not show the baseline set: $out"

# --- not root ---
for args in "create $vol" "delete $base" "gc" "mount $T/tmpfs" "umount $T/tmpfs"; do
	# shellcheck disable=SC2086 # args are words
	refuse 1 "root" as_nobody --catalog "$CATALOG" $args
done

# --- help and version, for root and for everyone ---
for who in root nobody; do
	run=("$STILLFS")
	[ "$who" = root ] || run=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups -- "$STILLFS")
	for cmd in create list show delete gc mount umount; do
		rc=0
		"${run[@]}" "$cmd" --help >"$T/io/out" 2>"$T/io/err" || rc=$?
		[ "$rc" -eq 0 ] || problem "$who: 'stillfs $cmd --help' exited $rc: $(cat "$T/io/err")"
		head -n 1 "$T/io/out" | grep -q "^Usage: stillfs $cmd" ||
			problem "$who: 'stillfs $cmd --help' does not start with its usage: $(head -n 1 "$T/io/out")"
		[ ! -s "$T/io/err" ] || problem "$who: 'stillfs $cmd --help' wrote on stderr: $(cat "$T/io/err")"
	done
	for opt in --help -h; do
		rc=0
		"${run[@]}" "$opt" >"$T/io/out" 2>"$T/io/err" || rc=$?
		[ "$rc" -eq 0 ] || problem "$who: 'stillfs $opt' exited $rc"
		grep -q '^Usage: stillfs' "$T/io/out" || problem "$who: 'stillfs $opt' prints no usage"
		for cmd in create list show delete gc mount umount; do
			grep -qw "$cmd" "$T/io/out" || problem "$who: 'stillfs $opt' does not list '$cmd'"
		done
	done
	rc=0
	"${run[@]}" --version >"$T/io/out" 2>"$T/io/err" || rc=$?
	[ "$rc" -eq 0 ] || problem "$who: 'stillfs --version' exited $rc"
	grep -Eqx 'stillfs [0-9]+\.[0-9]+(\.[0-9]+)?.*' "$T/io/out" ||
		problem "$who: 'stillfs --version' printed: $(cat "$T/io/out")"
	[ "$(wc -l <"$T/io/out")" -eq 1 ] || problem "$who: 'stillfs --version' printed more than one line"
done
# no command at all is a usage error that shows the usage
rc=0
"$STILLFS" >"$T/io/out" 2>"$T/io/err" || rc=$?
[ "$rc" -eq 2 ] || problem "'stillfs' with no command exited $rc, not 2"
grep -q '^Usage: stillfs' "$T/io/err" || problem "'stillfs' with no command shows no usage on stderr"

# the baseline set came through all of this intact
[ "$(stillfs list --json | jq -r 'length')" = 1 ] || problem "the catalog holds other sets than the baseline"
[ "$(stillfs show --json "$base" | jq -r .state)" = complete ] || problem "set $base is no longer complete"
snap=$(snapshot_path "$base")
cmp -s "$snap/file" "$vol/file" || problem "the baseline snapshot lost its file"

if [ "${#problems[@]}" -gt 0 ]; then
	for p in "${problems[@]}"; do
		log "  - $p"
	done
	fail "${#problems[@]} refusal(s) misbehaved"
fi
log "ok"
