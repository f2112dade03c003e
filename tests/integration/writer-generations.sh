#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# A writer makes whole what no hold can: an update that spans many system
# calls. genwriter rewrites a file in generations of NRECORDS 4 KiB records
# (one pwrite each); a copy is consistent only when every record is of one
# generation. A hook writer pauses it between two generations on freeze
# (SIGUSR1, then waits for its "paused" marker) and resumes it on thaw
# (SIGUSR2), while recwriter puts more load on the same filesystem.
#
# - gencheck must be able to fail: it rejects a copy taken in the middle of a
#   generation and a copy with a flipped byte;
# - every set taken with --writer HOOK is complete, application-consistent,
#   records the hook's phases as ok, and its copy of the file holds all records
#   of one generation: the very one the hook reported genwriter paused at;
#   genwriter goes on writing after each set;
# - sets taken without the writer are checked the same way and the mixed ones
#   are counted and reported (not asserted: it is a matter of timing); none may
#   hold a torn record.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

NRECORDS=256 # 1 MiB a generation
NSETS=8

require_root
require_cmd jq btrfs

make_btrfs fs 1G >/dev/null
vol=$T/fs/vol
make_subvolume "$vol"
gw=$STILLFS_TEST_TOOLS/genwriter
[ -x "$gw" ] || fail "test tool genwriter not built"

# gencheck must be able to fail. Two copies made while genwriter paused, at
# two generations: each passes; one made of the first half of one and the
# second half of the other (what a copy in the middle of a generation looks
# like) is reported as mixed; one with a flipped byte as torn.
"$gw" "$T/control" 8 --paused "$T/control.paused" --ready "$T/control.ready" &
cpid=$!
track_pid "$cpid"
wait_for 10 test -e "$T/control.ready"
for c in 1 2; do
	kill -USR1 "$cpid"
	wait_for 10 test -e "$T/control.paused"
	cp "$T/control" "$T/control.$c"
	out=$(tool gencheck "$T/control.$c" 8) || fail "gencheck rejects a copy made while genwriter paused: $out"
	kill -USR2 "$cpid"
	wait_for 10 test ! -e "$T/control.paused"
done
kill -TERM "$cpid"
timeout 10 tail --pid="$cpid" -f /dev/null || fail "genwriter ignored SIGTERM"
cp "$T/control.1" "$T/control.mixed"
dd if="$T/control.2" of="$T/control.mixed" bs=4096 skip=4 seek=4 count=4 conv=notrunc status=none
out=$(tool gencheck "$T/control.mixed" 8) && fail "gencheck accepted a copy of two generations: $out"
[[ $out == *"mixes generations in 2 runs"* ]] || fail "gencheck did not report two generations: $out"
log "control: $out"
cp "$T/control.1" "$T/control.torn"
printf '\xde\xad\xbe\xef' | dd of="$T/control.torn" bs=1 seek=$((4096 * 5 + 1000)) conv=notrunc status=none
out=$(tool gencheck "$T/control.torn" 8) && fail "gencheck accepted a copy with a flipped byte: $out"
[[ $out == *torn* ]] || fail "gencheck did not report the flipped byte as a torn record: $out"

# the load and the application
"$STILLFS_TEST_TOOLS/recwriter" "$vol/load" 8192 --ready "$T/load.ready" &
load=$!
track_pid "$load"
"$gw" "$vol/gen" "$NRECORDS" --paused "$T/paused" --ready "$T/ready" &
pid=$!
track_pid "$pid"
wait_for 30 test -e "$T/ready"
wait_for 60 test -e "$T/load.ready"

# the hook: pauses genwriter between two generations for the snapshot
mkdir "$T/hooks"
hook=$T/hooks/genwriter-pause
cat >"$hook" <<EOF
#!/bin/bash
# genwriter-pause PHASE: holds genwriter $pid between two generations from
# freeze to thaw. Every wait is bounded.
echo "\$1" >>"$T/hook.log"
case \$1 in
freeze)
	kill -USR1 $pid || { echo "genwriter $pid is gone"; exit 1; }
	for _ in \$(seq 100); do
		if [ -e "$T/paused" ]; then
			read -r _ g <"$T/paused"
			echo "paused at generation \$g"
			exit 0
		fi
		sleep 0.05
	done
	echo "genwriter did not pause within 5 s"
	exit 1
	;;
thaw)
	kill -USR2 $pid || { echo "genwriter $pid is gone"; exit 1; }
	for _ in \$(seq 100); do
		if [ ! -e "$T/paused" ]; then
			echo "resumed"
			exit 0
		fi
		sleep 0.05
	done
	echo "genwriter did not resume within 5 s"
	exit 1
	;;
*)
	echo "nothing to do for \$1"
	;;
esac
EOF
chmod +x "$hook"
nowriters=$T/no-writers # missing: no writers but the ones named

# phase JSON PHASE: the hook's record of PHASE, "result message"
phase() {
	jq -r --arg p "$2" '.writers[0].phases
		| (if type == "array" then (map(select(.phase == $p)) | .[0]) else .[$p] end)
		| "\(.result) \(.message)"' <<<"$1"
}

# --- with the writer ---
for i in $(seq "$NSETS"); do
	kill -0 "$pid" 2>/dev/null || fail "genwriter died before set $i"
	: >"$T/hook.log"
	id=$(create_set --writers-dir "$nowriters" --writer "$hook" --label "writer-$i" "$vol") ||
		fail "stillfs create --writer of set $i failed"
	json=$(stillfs show --json "$id") || fail "stillfs show --json $id failed"
	[ "$(jq -r .state <<<"$json")" = complete ] || fail "set $id is not complete: $json"
	[ "$(jq -r .consistency <<<"$json")" = application ] ||
		fail "set $id with a writer that froze is not application-consistent: $json"
	[ "$(jq -r '.writers | length' <<<"$json")" = 1 ] || fail "set $id does not list exactly one writer: $json"
	[ "$(jq -r '.writers[0].name' <<<"$json")" = genwriter-pause ] || fail "set $id names its writer wrongly: $json"
	[ "$(jq -r '.writers[0].kind' <<<"$json")" = hook ] || fail "set $id: the writer is not a hook: $json"
	for p in prepare freeze thaw post; do
		r=$(phase "$json" "$p")
		[[ $r == ok* ]] || fail "set $id: the hook's $p is '$r', not ok: $json"
	done
	[ "$(tr '\n' ' ' <"$T/hook.log")" = "prepare freeze thaw post " ] ||
		fail "set $id: the hook ran '$(tr '\n' ' ' <"$T/hook.log")', not prepare, freeze, thaw, post"
	r=$(phase "$json" freeze)
	[[ $r =~ ^ok\ paused\ at\ generation\ ([0-9]+)$ ]] || fail "set $id: the freeze message is '$r'"
	paused=${BASH_REMATCH[1]}
	snap=$(snapshot_path "$id") || fail "set $id: no snapshot"
	out=$(tool gencheck "$snap/gen" "$NRECORDS") || fail "set $id taken with the writer: $out"
	[ "$out" = "$NRECORDS records, all of generation $paused" ] ||
		fail "set $id holds '$out', but genwriter paused at generation $paused"
	out=$(tool reccheck "$snap/load" 8192) || fail "set $id: the load file is torn: $out"
	[ ! -e "$T/paused" ] || fail "genwriter is still paused after set $id"
	log "set $i ($id) with the writer: all $NRECORDS records of generation $paused"
done

# --- without the writer ---
mixed=0
example=
for i in $(seq "$NSETS"); do
	kill -0 "$pid" 2>/dev/null || fail "genwriter died before set $i without the writer"
	id=$(create_set --writers-dir "$nowriters" --label "plain-$i" "$vol") ||
		fail "stillfs create of set $i without the writer failed"
	snap=$(snapshot_path "$id") || fail "set $id: no snapshot"
	if ! out=$(tool gencheck "$snap/gen" "$NRECORDS"); then
		[[ $out == *"mixes generations"* ]] || fail "set $id without the writer: $out"
		mixed=$((mixed + 1))
		example="set $id: $out"
	fi
done
log "without the writer, $mixed of $NSETS sets hold a file of mixed generations${example:+; e.g. $example}"

kill -0 "$pid" 2>/dev/null || fail "genwriter died"
kill -TERM "$pid"
timeout 10 tail --pid="$pid" -f /dev/null || fail "genwriter ignored SIGTERM"
wait "$pid" || fail "genwriter failed"
kill -TERM "$load"
timeout 10 tail --pid="$load" -f /dev/null || fail "recwriter ignored SIGTERM"
wait "$load" || fail "recwriter failed"
log "ok"
