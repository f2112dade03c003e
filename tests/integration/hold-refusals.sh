#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# What --hold refuses, before anything is made. Each of these is refused with
# exit 1 and exactly one line on standard error that names it, nothing on
# standard output, and nothing left behind (no catalog, no storage directory,
# no subvolume, nothing frozen):
#
#   a missing path, under the cgroup2 mount and elsewhere
#   a directory that is not a cgroup (/tmp)
#   a file in a cgroup, not a cgroup
#   a cgroup v1 directory (when this machine has a v1 hierarchy mounted)
#   the root cgroup (the cgroup2 mount itself)
#   the test's own cgroup (as /proc/self/cgroup names it)
#   the cgroup stillfs runs in, and a parent of it (freezing either would
#   freeze stillfs itself)
#   the same cgroup twice
#   unit:nonexistent.service
#
# Then unit:NAME.service is resolved through a fake tree:
# <cgroup2>/stillfs-test-.../system.slice/fake.service with a sleep in it; a
# set held that way is complete and reports its consistency and hold. The case
# is skipped (and says so) if stillfs does not look for units there.
#
# Every refusal is tried; the test fails at the end listing each one that did
# not behave.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=cgroup.sh
. "$(dirname "$0")/cgroup.sh"

require_root
require_cmd jq btrfs find

# --- test cgroups: one parent per test, thawed, emptied and removed at exit ---
cgroup_setup

make_btrfs fs 1G >/dev/null
fs=$T/fs
vol=$fs/vol
make_subvolume "$vol"
echo data >"$vol/file"
subvols_before=$(btrfs subvolume list "$fs")
nowriters=$T/no-writers # missing: no writers but the ones named

app=$CG_TOP/app
mkdir "$app"
run_in_cgroup "$app" sleep 600

# the cgroup stillfs will run in for the self cases, and a child of it
self=$CG_TOP/self
mkdir -p "$self/inner"

# nothing_made WHAT: no catalog, no storage, no new subvolume, nothing frozen
nothing_made() {
	local d
	[ ! -e "$CATALOG" ] || problem "$1: the catalog was made"
	[ ! -e "$fs/.stillfs" ] || problem "$1: the storage directory was made"
	[ "$(btrfs subvolume list "$fs")" = "$subvols_before" ] || problem "$1: a subvolume was made"
	while read -r d; do
		cg_thawed "$d" || problem "$1: $d is left frozen"
	done < <(find "$CG_TOP" -type d)
}

# refused WHAT NAME [IN_CGROUP] -- HOLD_ARGS...: runs a create with HOLD_ARGS
# (in cgroup IN_CGROUP when given) and checks it is refused with one line that
# contains NAME.
refused() {
	local what=$1 name=$2 in_cg=
	shift 2
	if [ "$1" != -- ]; then
		in_cg=$1
		shift
	fi
	shift
	local rc=0
	if [ -n "$in_cg" ]; then
		(
			echo "$BASHPID" >"$in_cg/cgroup.procs" || exit 99
			exec timeout -k 5 30 "$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" \
				--hold-timeout 3 "$@" "$vol"
		) >"$T/out" 2>"$T/err" || rc=$?
	else
		timeout -k 5 30 "$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" \
			--hold-timeout 3 "$@" "$vol" >"$T/out" 2>"$T/err" || rc=$?
	fi
	log "$what: exit $rc: $(tr '\n' '|' <"$T/err")"
	[ "$rc" -ne 99 ] || fail "$what: cannot move a process into $in_cg"
	[ "$rc" -eq 1 ] || problem "$what: exit $rc, not 1"
	[ ! -s "$T/out" ] || problem "$what: printed '$(cat "$T/out")' on stdout"
	[ "$(wc -l <"$T/err")" -eq 1 ] || problem "$what: not one line on stderr: $(cat "$T/err")"
	grep -qF -- "$name" "$T/err" || problem "$what: the message does not name '$name': $(cat "$T/err")"
	nothing_made "$what"
}

refused "a missing cgroup" "$CG_TOP/missing" -- --hold "$CG_TOP/missing"
refused "a missing path" "$T/missing" -- --hold "$T/missing"
refused "a directory that is not a cgroup" /tmp -- --hold /tmp
refused "a file in a cgroup" "$app/cgroup.procs" -- --hold "$app/cgroup.procs"
v1=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup") print $5; break } }' \
	/proc/self/mountinfo | grep -m1 freezer || true)
[ -n "$v1" ] || v1=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup") { print $5; exit } break } }' \
	/proc/self/mountinfo)
if [ -n "$v1" ]; then
	refused "a cgroup v1 directory" "$v1" -- --hold "$v1"
else
	log "no cgroup v1 hierarchy is mounted: the v1 case is not tried"
fi
refused "the root cgroup" "$CG_ROOT" -- --hold "$CG_ROOT"
own=$(awk -F: '$1 == "0" && $2 == "" { print $3 }' /proc/self/cgroup)
[ -n "$own" ] || fail "no cgroup v2 entry in /proc/self/cgroup: $(cat /proc/self/cgroup)"
own=$CG_ROOT${own%/}
[ "$own" != "$CG_ROOT" ] || log "this test runs in the root cgroup: its own cgroup is the root one"
refused "the test's own cgroup" "$own" -- --hold "$own"
refused "the cgroup stillfs runs in" "$self/inner" "$self/inner" -- --hold "$self/inner"
refused "a parent of the cgroup stillfs runs in" "$self" "$self/inner" -- --hold "$self"
refused "the same cgroup twice" "$app" -- --hold "$app" --hold "$app"
refused "a unit that does not exist" nonexistent.service -- --hold unit:nonexistent.service
if [ -n "$(cat "$self/inner/cgroup.procs")" ]; then
	problem "stillfs is still running in $self/inner: $(cat "$self/inner/cgroup.procs")"
fi

# --- unit:NAME.service through a fake tree ---
unit=$CG_TOP/system.slice/fake.service
mkdir -p "$unit"
run_in_cgroup "$unit" sleep 600
rc=0
timeout -k 5 60 "$STILLFS" --catalog "$CATALOG" create --writers-dir "$nowriters" \
	--hold unit:fake.service "$vol" >"$T/out" 2>"$T/err" || rc=$?
if [ "$rc" -ne 0 ] && grep -q 'fake.service' "$T/err" && [ ! -e "$CATALOG" ] &&
	grep -Eqi 'not found|no such|does not exist|cannot find|unknown|no unit|not running|not loaded' "$T/err"; then
	log "SKIP (one case): stillfs does not find unit:fake.service at $unit: $(cat "$T/err")"
elif [ "$rc" -ne 0 ]; then
	problem "--hold unit:fake.service: exit $rc: $(cat "$T/err")"
else
	id=$(cat "$T/out")
	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	log "--hold unit:fake.service: set $id: $(jq -c '{state, consistency, hold_ns, holds}' <<<"$json")"
	[ "$(jq -r .state <<<"$json")" = complete ] || problem "unit:fake.service: set $id is not complete"
	case $(jq -r .consistency <<<"$json") in
	application | crash) ;;
	*) problem "unit:fake.service: set $id reports no consistency" ;;
	esac
	[[ $(jq -r .hold_ns <<<"$json") =~ ^[0-9]+$ ]] || problem "unit:fake.service: set $id reports no hold"
	jq -e --arg cg "$unit" '(.holds // [$cg]) | index($cg) != null' <<<"$json" >/dev/null ||
		problem "unit:fake.service: set $id does not record $unit as held"
	cg_thawed "$unit" || problem "unit:fake.service: $unit is left frozen"
fi

if [ "${#problems[@]}" -gt 0 ]; then
	fail "${#problems[@]} problem(s): $(printf '%s; ' "${problems[@]}")"
fi
log "ok"
