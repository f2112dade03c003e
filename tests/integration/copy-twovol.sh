# shellcheck shell=bash
# The volumes of copy-hold.sh and copy-freeze.sh, sourced after lib.sh: two
# ext4 volumes (not btrfs, so both are copied) for twovol, which writes each
# count to volume A, then to volume B, so that at any instant A is B or
# B + 1; a third ext4 filesystem for the copies' storage. Sets va, vb, sto.

require_root
require_cmd jq mkfs.ext4

va=$(make_fs ext4 fa 256M)/data
vb=$(make_fs ext4 fb 256M)/wal
sto=$(make_fs ext4 sto 600M)/copies
mkdir "$va" "$vb"
# some bulk, so that the copy before the hold has work to do
mkdir "$va/bulk"
for i in $(seq 1000); do echo "$i" >"$va/bulk/$i"; done
head -c $((20 << 20)) /dev/urandom >"$va/bulk/big"

# counters ID: "A B" as the set's copies hold them
counters() {
	local json a b
	json=$(stillfs show --json "$1") || fail "stillfs show --json $1"
	a=$(cat "$(jq -er --arg p "$va" '.volumes[] | select(.path == $p) | .snapshot' <<<"$json")/counter") ||
		fail "set $1: no counter on A"
	b=$(cat "$(jq -er --arg p "$vb" '.volumes[] | select(.path == $p) | .snapshot' <<<"$json")/counter") ||
		fail "set $1: no counter on B"
	[[ $a =~ ^[0-9]{20}$ && $b =~ ^[0-9]{20}$ ]] || fail "set $1: counters '$a' and '$b' are not counts"
	printf '%s %s\n' "$((10#$a))" "$((10#$b))"
}

# check_counters ID PREV: the set's copies show A = B or A = B + 1, with A
# past PREV; prints A
check_counters() {
	local a b
	read -r a b <<<"$(counters "$1")"
	[ "$a" -eq "$b" ] || [ "$a" -eq $((b + 1)) ] ||
		fail "set $1 shows A = $a, B = $b: the copies are not of one instant"
	[ "$a" -gt "$2" ] || fail "set $1: the counter did not advance past $2"
	printf '%s\n' "$a"
}

# storage_clean: storage holds only the copies of complete sets
storage_clean() {
	local e id state
	for e in "$sto"/*/*; do
		[ -e "$e" ] || continue
		id=$(basename "$e")
		id=${id%%.*}
		state=$(stillfs show --json "$id" 2>/dev/null | jq -r .state) || state=none
		[ "$state" = complete ] || fail "storage holds $e of a set that is '$state'"
	done
}
