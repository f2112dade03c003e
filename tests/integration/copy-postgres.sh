#!/bin/bash
# copy-postgres: hold-postgres.sh with the data directory and the WAL on two
# ext4 filesystems, copied by the copy provider (see that file).
export PG_PROVIDER=copy
# shellcheck source-path=SCRIPTDIR source=hold-postgres.sh
. "$(dirname "$0")/hold-postgres.sh"
