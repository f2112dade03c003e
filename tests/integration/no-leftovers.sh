#!/bin/bash
# Runs after every other test: no test may leave a mount, a loop device, a view
# daemon or a temporary directory behind, whatever happened to it.
set -uo pipefail
bad=0
prefix="${TMPDIR:-/tmp}/stillfs-test-"

if mounts=$(awk -v p="$prefix" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo) &&
	[ -n "$mounts" ]; then
	echo "mounts left behind:"; echo "$mounts"; bad=1
fi
if loops=$(losetup -l -n -O NAME,BACK-FILE 2>/dev/null | grep -F "$prefix"); then
	echo "loop devices left behind:"; echo "$loops"; bad=1
fi
if procs=$(pgrep -a -f "$prefix" | grep -v -e pgrep -e no-leftovers); then
	echo "processes left behind:"; echo "$procs"; bad=1
fi
if dirs=$(compgen -G "${prefix}*"); then
	echo "temporary directories left behind:"; echo "$dirs"; bad=1
fi
exit "$bad"
