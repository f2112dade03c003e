# shellcheck shell=bash
# Test cgroups, for the tests that hold one. Source it after lib.sh, then call
# cgroup_setup before starting anything in a cgroup:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/cgroup.sh"
#   cgroup_exit_hook FUNCTION # optional
#   cgroup_setup
#
# cgroup_setup finds the cgroup2 mount ($CG_ROOT) and makes one parent cgroup
# for the test beneath it ($CG_TOP), in which the test makes its own; it skips
# the test if there is no cgroup2 mount, if the cgroup cannot be made, or if
# the cgroup v2 freezer (cgroup.freeze, cgroup.kill) is missing.
#
# It also installs the exit trap, in place of lib.sh's: on every exit path it
# thaws every cgroup beneath $CG_TOP, runs the function named by
# cgroup_exit_hook if there is one (for what the test must end while its
# cgroups are thawed and their processes still run, such as servers to stop
# before their filesystems are unmounted), kills everything in them
# (cgroup.kill), waits at most 5 s for them to empty, removes them, reaps the
# processes the test registered with track_pid, and then runs lib.sh's
# _cleanup with the test's exit status.

CG_ROOT=
CG_TOP=
_cg_hook=

_cgroup_cleanup() {
	local rc=$? d p
	set +e
	# (a second signal must not cut the cleaning up short)
	trap "" INT TERM
	if [ -n "$CG_TOP" ] && [ -d "$CG_TOP" ]; then
		while read -r d; do
			echo 0 >"$d/cgroup.freeze"
		done < <(find "$CG_TOP" -type d)
	fi
	[ -z "$_cg_hook" ] || "$_cg_hook"
	if [ -n "$CG_TOP" ] && [ -d "$CG_TOP" ]; then
		echo 1 >"$CG_TOP/cgroup.kill"
		for _ in $(seq 50); do
			[ -z "$(find "$CG_TOP" -name cgroup.procs -exec cat {} +)" ] && break
			sleep 0.1
		done
		find "$CG_TOP" -depth -type d -exec rmdir {} \; 2>/dev/null
		[ ! -d "$CG_TOP" ] || log "warning: cannot remove $CG_TOP"
	fi
	# reap what the test started, quietly (no "Killed" notices from bash)
	# shellcheck disable=SC2154 # _pids is lib.sh's, filled by track_pid
	for p in "${_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		{ wait "$p"; } 2>/dev/null
	done
	(exit "$rc")
	_cleanup
}

# cgroup_exit_hook FUNCTION: the exit trap runs FUNCTION once the test's
# cgroups are thawed, before what is in them is killed (see above).
cgroup_exit_hook() { _cg_hook=$1; }

# cgroup_setup: makes $CG_TOP and installs the exit trap (see above).
cgroup_setup() {
	CG_ROOT=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' \
		/proc/self/mountinfo)
	[ -n "$CG_ROOT" ] || skip "no cgroup2 filesystem is mounted"
	CG_TOP=$CG_ROOT/stillfs-test-$TEST_NAME.$$
	trap _cgroup_cleanup EXIT
	mkdir "$CG_TOP" || skip "cannot make a cgroup under $CG_ROOT"
	if [ ! -e "$CG_TOP/cgroup.freeze" ] || [ ! -e "$CG_TOP/cgroup.kill" ]; then
		skip "the cgroup v2 freezer (cgroup.freeze, cgroup.kill) is missing under $CG_ROOT"
	fi
}

# run_in_cgroup CG COMMAND...: runs COMMAND in the background inside CG ($! is
# its pid; tail --pid, not wait, waits for it).
run_in_cgroup() {
	local cg=$1
	shift
	(
		echo "$BASHPID" >"$cg/cgroup.procs" || exit 1
		exec "$@"
	) &
	track_pid "$!"
	disown "$!" # killed by the cleanup, which need not be announced
}

# cg_thawed CG: CG is not asked to freeze, and is not frozen.
cg_thawed() { [ "$(cat "$1/cgroup.freeze")" = 0 ] && grep -qx 'frozen 0' "$1/cgroup.events"; }
