"""The python peers of pcache-bench.

diskcache, joblib and permacache memoize the peers' function
f(x, y=2) -> [x, y, x+y]. pcache-bench embeds this file, writes it to its
scratch directory and runs it with python3. Every mode prints one JSON object
on stdout; a failure exits non-zero with the reason on stderr.

    peers.py probe
        which peers import, with their versions
    peers.py bench LIB DIR KEYS HITS
        KEYS misses (x = 0 .. KEYS-1, each a new key), then HITS hits
        cycling over those keys: {"miss_ns", "hit_ns", "computes"}
    peers.py shared LIB DIR KEYS MULT OFFSET
        prints "ready" once set up, waits for a line on stdin, then calls f
        on every key in the order (j*MULT + OFFSET) % KEYS:
        {"ns", "computes"}

LIB is diskcache (diskcache.Cache(DIR).memoize()), joblib
(joblib.Memory(DIR, verbose=0).cache) or permacache (permacache imported
from $PYTHONPATH; its cache goes under $PERMACACHE_DIR).
"""

import json
import os
import sys
import time

computes = 0


def f(x, y=2):
    global computes
    computes += 1
    return [x, y, x + y]


def memoized(lib, d):
    if lib == "diskcache":
        import diskcache

        return diskcache.Cache(d).memoize()(f)
    if lib == "joblib":
        import joblib

        return joblib.Memory(d, verbose=0).cache(f)
    if lib == "permacache":
        from permacache import permacache

        # An absolute path: permacache joins it to its default cache
        # directory, which then plays no part.
        return permacache(os.path.join(os.environ.get("PERMACACHE_DIR", d), "f"))(f)
    sys.exit("peers.py: unknown peer %r" % lib)


def probe():
    out = {"python": sys.version.split()[0]}
    for lib in ("diskcache", "joblib", "permacache"):
        try:
            m = __import__(lib)
        except Exception as e:  # not installed, or broken: say which
            out[lib] = None
            out[lib + "_error"] = "%s: %s" % (type(e).__name__, e)
            continue
        out[lib] = getattr(m, "__version__", None) or "version unknown"
    print(json.dumps(out))


def check(r, x):
    if r != [x, 2, x + 2]:
        sys.exit("peers.py: f(%d) returned %r" % (x, r))


def bench(lib, d, keys, hits):
    g = memoized(lib, d)
    # Warm up on a key outside the measured ones: first-call costs (joblib
    # writes the function's code, permacache opens its shelf) are not the
    # steady state.
    check(g(-1), -1)
    check(g(-1), -1)
    t0 = time.perf_counter_ns()
    for x in range(keys):
        check(g(x), x)
    t1 = time.perf_counter_ns()
    for j in range(hits):
        x = j % keys
        check(g(x), x)
    t2 = time.perf_counter_ns()
    if computes != keys + 1:
        sys.exit("peers.py: %s computed %d times for %d keys" % (lib, computes, keys + 1))
    print(json.dumps({"miss_ns": (t1 - t0) / keys, "hit_ns": (t2 - t1) / hits, "computes": computes}))


def shared(lib, d, keys, mult, offset):
    g = memoized(lib, d)
    print("ready", flush=True)
    if sys.stdin.readline() == "":
        sys.exit("peers.py: stdin closed before the start line")
    t0 = time.perf_counter_ns()
    for j in range(keys):
        x = (j * mult + offset) % keys
        check(g(x), x)
    ns = time.perf_counter_ns() - t0
    print(json.dumps({"ns": ns, "computes": computes}))


def main(argv):
    if argv[:1] == ["probe"] and len(argv) == 1:
        return probe()
    if argv[:1] == ["bench"] and len(argv) == 5:
        return bench(argv[1], argv[2], int(argv[3]), int(argv[4]))
    if argv[:1] == ["shared"] and len(argv) == 6:
        return shared(argv[1], argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    sys.exit("usage: peers.py probe | bench LIB DIR KEYS HITS | shared LIB DIR KEYS MULT OFFSET")


if __name__ == "__main__":
    main(sys.argv[1:])
