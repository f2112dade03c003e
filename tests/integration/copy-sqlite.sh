#!/bin/bash
# copy-sqlite: sqlite-consistency.sh on an ext4 volume copied by the copy
# provider, each set holding the writer's cgroup (see that file).
export SQLITE_PROVIDER=copy
# shellcheck source-path=SCRIPTDIR source=sqlite-consistency.sh
. "$(dirname "$0")/sqlite-consistency.sh"
