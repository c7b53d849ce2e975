#!/bin/sh
# peers.sh: pcache against the python caches, in one command.
#
# Builds pcache-bench and runs only its "peers" group (the peers' function
# f(x, y=2) -> [x, y, x+y]: miss+store and hit times of pcache, python
# diskcache memoize, joblib Memory.cache and permacache) and its "multiproc"
# group (4 fresh processes calling f over the same 2,000 keys on one cache:
# computations and wall time, pcache against diskcache), then prints the
# markdown table.
#
# Usage, from anywhere in the repository:
#
#     internal/cmd/pcache-bench/peers.sh [pcache-bench flags, e.g. -quick or -json]
#
# Environment:
#     PCACHE_BENCH_PYTHON  the python3 to run the peers with (default: python3
#                          on $PATH if it imports diskcache, else /usr/bin/python3)
#     PERMACACHE_SRC       permacache's source tree (the directory holding the
#                          permacache package); put on PYTHONPATH. Unset: the
#                          permacache rows say "skipped".
# A peer that is not installed makes its rows "skipped", not a failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d "${TMPDIR:-/tmp}/pcache-peers.XXXXXX")
trap 'rm -rf "$bin"' EXIT
(cd "$here" && go build -o "$bin/pcache-bench" .)
"$bin/pcache-bench" -run '^(peers|multiproc)$' "$@"
