#!/bin/bash
# Runs after every other test: no test may leave a mount, a loop device, a view
# daemon or a temporary directory behind, whatever happened to it.
#
# tools/run-tests names a file it touched before the first test in
# STILLFS_RUN_STARTED. Temporary directories older than that file were left by
# an earlier run that was itself killed (not by a test of this run): they,
# and the mounts, loop devices and processes beneath them, are listed but do
# not fail this test.
set -uo pipefail
bad=0
prefix="${TMPDIR:-/tmp}/stillfs-test-"
stamp=${STILLFS_RUN_STARTED:-}

# ours DIR: whether DIR was made by this run
ours() { [ -z "$stamp" ] || [ ! -e "$stamp" ] || [ ! "$1" -ot "$stamp" ]; }

dirs=() old=()
for d in "$prefix"*; do
	[ -e "$d" ] || continue
	if ours "$d"; then dirs+=("$d"); else old+=("$d"); fi
done

# under_old PATH: whether PATH lies in a directory an earlier run left
under_old() {
	local o
	for o in "${old[@]}"; do
		case $1 in "$o" | "$o"/*) return 0 ;; esac
	done
	return 1
}

# report WHAT FIELD LINE...: lists the lines (the path in field FIELD of each),
# apart those beneath a directory an earlier run left
report() {
	local what=$1 field=$2 line path mine=() theirs=()
	shift 2
	for line in "$@"; do
		path=$(awk -v f="$field" '{ print $f }' <<<"$line")
		if under_old "$path"; then theirs+=("$line"); else mine+=("$line"); fi
	done
	if [ "${#mine[@]}" -gt 0 ]; then
		echo "$what left behind:"; printf '%s\n' "${mine[@]}"; bad=1
	fi
	if [ "${#theirs[@]}" -gt 0 ]; then
		echo "$what left by an earlier, interrupted run (not counted):"
		printf '%s\n' "${theirs[@]}"
	fi
}

mapfile -t mounts < <(awk -v p="$prefix" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo)
report "mounts" 1 "${mounts[@]}"
mapfile -t loops < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null | grep -F "$prefix")
report "loop devices" 2 "${loops[@]}"
# pgrep alone first: the commands that then filter its list name the prefix too
found=$(pgrep -a -f "$prefix" | grep -v -e no-leftovers)
mapfile -t procs < <(awk -v p="$prefix" \
	'{ for (i = 2; i <= NF; i++) if ((k = index($i, p)) > 0) { print $1, substr($i, k); next } }' <<<"$found")
report "processes" 2 "${procs[@]}"
report "temporary directories" 1 "${dirs[@]}" "${old[@]}"
exit "$bad"
