#!/usr/bin/env bash
# Builds run the user's code (setup scripts, package managers, compilers)
# only in the build sandbox: seen from inside a python3 dependency install,
# not root, no capabilities, no new privileges, and bounded in memory, CPU
# and processes; one that runs past --build-timeout fails the deploy with
# 504 and the flag's name, leaves nothing behind, and the version already
# deployed keeps serving. A requirement may name a package folder shipped
# in the function folder.
#
#   test_builds.sh DAEMON SOURCE_ROOT
set -u
source "$(dirname "$0")/lib.sh"
it_init "$@"

# The runtime images first, so that no deploy below waits for one.
timeout 1500 "$DAEMON" --build-images --state-dir "$STATE" > "$T/images.log" 2>&1
rc=$?
check "build-images: exit status" 0 "$rc"
[ "$rc" -ne 0 ] && tail -20 "$T/images.log"

# Builds that must succeed get the default --build-timeout: pip building a
# package folder takes seconds, more on a busy machine.
it_start_daemon
ENV=python3

# pyfn DIR RETURN [REQUIREMENTS]: a python3 function returning RETURN.
pyfn() {
    rm -rf "$1"
    mkdir -p "$1"
    printf 'def fn(input, headers):\n    return %s\n' "$2" > "$1/fn.py"
    [ $# -ge 3 ] && printf '%s\n' "$3" > "$1/requirements.txt"
    return 0
}

# pkg DIR NAME SETUP_BODY: a package folder whose setup.py runs SETUP_BODY first.
pkg() {
    mkdir -p "$1/$2/$2"
    printf '%s\nfrom setuptools import setup\nsetup(name="%s", version="1.0", packages=["%s"])\n' \
        "$3" "$2" "$2" > "$1/$2/setup.py"
    printf 'VALUE = "from %s"\n' "$2" > "$1/$2/$2/__init__.py"
}

# --- a requirement that is a package folder of the function's own -----------

pyfn "$T/local" 'okpkg.VALUE' './okpkg'
sed -i '1i import okpkg' "$T/local/fn.py"
pkg "$T/local" okpkg ''
zipdir "$T/local" "$T/local.zip"
deploy_ok local 1 "$T/local.zip"
call local
check "local package: HTTP status" 200 "$CODE"
check "local package: its value" "from okpkg" "$(cat "$T/out")"
grep "function local: deployed" "$LOG" | sed 's/.*deployed/# deps deploy:/'

# --- what a setup script may do, seen from inside --------------------------

# It says so in a line with "error" and fails, so the deploy's answer,
# which carries the install's error lines, carries it.
pyfn "$T/probe" '"never"' './probe'
pkg "$T/probe" probe "$(cat <<'PY'
import os, sys


def first_line(*paths):
    for p in paths:
        try:
            with open(p) as f:
                return f.readline().strip()
        except OSError:
            pass
    return "?"


status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
cpu = first_line("/sys/fs/cgroup/cpu.max")  # cgroup v2; v1 splits it in two
if cpu == "?":
    cpu = first_line("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") + " " + \
        first_line("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
print("probe-error uid=%d gid=%d capeff=%s nonewprivs=%s memory=%s pids=%s cpu=%s" % (
    os.getuid(), os.getgid(), status["CapEff"].strip(), status["NoNewPrivs"].strip(),
    first_line("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    first_line("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"), cpu))
sys.exit(1)
PY
)"
zipdir "$T/probe" "$T/probe.zip"
before=$(counts)
deploy probe 1 "$T/probe.zip"
check "probe: status" 400 "$CODE"
probe=$(grep -o 'probe-error [^|]*' "$T/body" | sed 's/ *$//')
echo "# $probe"
check "probe: not root, no capabilities, no new privileges, bounded" \
    "probe-error uid=65534 gid=65534 capeff=0000000000000000 nonewprivs=1 memory=1073741824 pids=256 cpu=100000 100000" \
    "$probe"
check "probe: nothing left behind" "$before" "$(counts)"

# --- a build past --build-timeout --------------------------------------------

# A daemon with a short one, and nothing to bring back.
mgmt POST /delete --data-binary local
check "local: deleted" 200 "$CODE"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
BUILD_TIMEOUT=10
it_start_daemon --build-timeout "$BUILD_TIMEOUT"

# Version 1 echoes its input, so the check below is of exact bytes.
pyfn "$T/slow-v1" 'input'
zipdir "$T/slow-v1" "$T/slow-v1.zip"
deploy_ok slow 1 "$T/slow-v1.zip"
printf 'v1 \x00\xff\n' > "$T/v1.bin"
call slow --data-binary "@$T/v1.bin"
check_file "slow v1: answers its bytes" "$T/v1.bin" "$T/out"

pyfn "$T/slow" '"v2"' './slowpkg'
pkg "$T/slow" slowpkg 'import time
while True:
    time.sleep(3600)'
zipdir "$T/slow" "$T/slow.zip"
before=$(counts)
start=$(date +%s)
deploy slow 1 "$T/slow.zip"
echo "# a build that never ends refused in $(($(date +%s) - start)) s (--build-timeout $BUILD_TIMEOUT)"
check "slow: status" 504 "$CODE"
check "slow: the reason" \
    "the function's build ran past $BUILD_TIMEOUT s (the daemon's --build-timeout) and was stopped" \
    "$(cat "$T/body")"
check "slow: nothing left behind" "$before" "$(counts)"
call slow --data-binary "@$T/v1.bin"
check "slow: the version deployed before still answers: status" 200 "$CODE"
check_file "slow: the version deployed before still answers its bytes" "$T/v1.bin" "$T/out"

it_finish
