#!/usr/bin/env bash
# The handler link's authentication (docs/handler-protocol.md), for each
# runtime's handler run on loopback without Docker: the binary shim, the c
# runtime (a test function linked with libtinyfaas-c.a), python3's and
# nodejs's handler.py and handler.js. Given a secret file, a handler sends a
# CHALLENGE and nothing else to whoever connects, runs nothing for a stranger
# (a CALL first, a wrong or replayed PROOF, bytes that are not the protocol,
# silence, too many at once) and serves the daemon's dispatcher that has the
# secret; its refusals take a few lines of its log at most. Without a secret
# it says READY version 2 at once. A secret file it cannot use stops it.
# tests/integration/hauth_probe.c does the talking.
#
#   test_handler_auth.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../../scripts/lib.sh"
DAEMON=$(readlink -f "${1:?usage: $0 DAEMON SOURCE_ROOT}")
SRC=$(readlink -f "${2:?usage: $0 DAEMON SOURCE_ROOT}")
BUILD=$(dirname "$DAEMON")
PROBE=$BUILD/tests/hauth_probe
PASS=0 FAIL=0 HANDLER_PID=
T=$(mktemp -d /tmp/tinyfaas-auth.XXXXXX)
stop_handler() {
    [ -n "$HANDLER_PID" ] || return 0
    kill -TERM "$HANDLER_PID" 2> /dev/null
    for _ in $(seq 50); do kill -0 "$HANDLER_PID" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$HANDLER_PID" 2> /dev/null
    wait "$HANDLER_PID" 2> /dev/null
    HANDLER_PID=
}
trap 'stop_handler; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

# The secret as the daemon makes it (64 hex digits), here with a newline
# after it, which every handler strips.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/secret"
echo >> "$T/secret"
: > "$T/empty"

# --- each runtime's function: an echo that notes what it ran ---------------
RAN=$T/ran # one line per call a function ran
mkdir -p "$T/binary" "$T/python3" "$T/nodejs"
printf '#!/bin/sh\nbody=$(cat)\necho "$body" >> %s\nprintf %%s "$body"\n' "$RAN" > "$T/binary/fn.sh"
chmod 755 "$T/binary/fn.sh"
cat > "$T/python3/fn.py" << EOF
def fn(body, headers):
    with open("$RAN", "a") as f:
        f.write((body or "") + "\n")
    return body
EOF
printf '{"name":"echo","main":"index.js"}\n' > "$T/nodejs/package.json"
cat > "$T/nodejs/index.js" << EOF
const fs = require('fs');
module.exports = (req, res) => {
  fs.appendFileSync('$RAN', req.body + '\n');
  res.send(req.rawBody);
};
EOF

# --- what the handlers need on this host ------------------------------------
PY=/usr/bin/python3
if ! "$PY" -c 'import msgpack' 2> /dev/null; then
    TINYFAAS_PACKAGES=python3-msgpack tf_install_packages > /dev/null 2>&1
fi
check "python3: msgpack importable" yes "$("$PY" -c 'import msgpack' 2> /dev/null && echo yes || echo no)"
# The nodejs handler's msgpack library, at the version and checksum its recipe pins.
version=$(sed -n 's/^MSGPACK_VERSION=//p' "$SRC/runtimes/nodejs/build-context.sh")
integrity=$(sed -n "s/^MSGPACK_INTEGRITY='\(.*\)'/\1/p" "$SRC/runtimes/nodejs/build-context.sh")
mkdir -p "$T/npm" "$T/node_modules/@msgpack/msgpack"
tgz=$T/npm/msgpack-msgpack-$version.tgz
(cd "$T/npm" && timeout 120 npm pack --silent "@msgpack/msgpack@$version" > /dev/null 2> "$T/npm.log")
if [ -f "$tgz" ] && [ "sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)" = "$integrity" ]; then
    tar -xzf "$tgz" -C "$T/node_modules/@msgpack/msgpack" --strip-components=1
    check "nodejs: @msgpack/msgpack $version fetched" ok ok
else
    check "nodejs: @msgpack/msgpack $version fetched (registry unreachable?)" ok \
        "failed: $(tail -2 "$T/npm.log" | tr '\n' ' ')"
fi

# start_handler RUNTIME SECRET_FILE|"": the runtime's handler on a free port
# ($HPORT), its stderr in $T/RUNTIME.err.
start_handler() {
    HPORT=$(pick_port) || { echo "no free port"; exit 1; }
    local env=(TINYFAAS_PORT="$HPORT" TINYFAAS_THREADS=2 TINYFAAS_SECRET_FILE="$2")
    case $1 in
    binary) env+=(TINYFAAS_FN_DIR="$T/binary" TINYFAAS_SH=/bin/sh)
            set -- "$BUILD/runtimes/tinyfaas-shim" binary ;;
    c) set -- "$BUILD/tests/c_fn_test" ;;
    python3) env+=(TINYFAAS_FN_DIR="$T/python3" TINYFAAS_DEPS_DIR="$T/none")
             set -- "$PY" "$SRC/runtimes/python3/handler.py" ;;
    nodejs) env+=(TINYFAAS_FN_DIR="$T/nodejs" NODE_PATH="$T/node_modules")
            set -- node "$SRC/runtimes/nodejs/handler.js" ;;
    esac
    env -u TINYFAAS_SOCKET "${env[@]}" "$@" 2> "$T/$RUNTIME.err" &
    HANDLER_PID=$!
}

# probe WHAT ARG: runs hauth_probe against the handler; its summary line.
probe() {
    timeout 300 "$PROBE" "$HPORT" "$2" > "$T/probe.out" 2>&1
    sed "s/^/#   /" "$T/probe.out" | grep -v '^#   [0-9]* passed' | grep -E 'FAIL|#   #' || true
    check "$RUNTIME: $1" "0 failed" "$(tail -1 "$T/probe.out" | sed 's/.*passed, //')"
}

for RUNTIME in binary c python3 nodejs; do
    echo "# --- $RUNTIME"
    : > "$RAN"
    start_handler "$RUNTIME" "$T/secret"
    probe "with a secret: strangers refused, the daemon served" "$T/secret"
    refusals=$(grep -c 'did not authenticate' "$T/$RUNTIME.err")
    echo "# $RUNTIME: $refusals line(s) on stderr about refused connections"
    check "$RUNTIME: refusals logged, a few lines at most" yes \
        "$([ "$refusals" -ge 1 ] && [ "$refusals" -le 4 ] && echo yes || echo "$refusals lines")"
    check "$RUNTIME: the handler still runs" yes "$(kill -0 "$HANDLER_PID" 2> /dev/null && echo yes || echo no)"
    if [ "$RUNTIME" != c ]; then # the c test function notes nothing
        check "$RUNTIME: no stranger's call ran" 0 "$(grep -c stranger "$RAN")"
        check "$RUNTIME: the daemon's calls ran" 6 "$(grep -c -e '^call [0-4]$' -e '^by hand$' "$RAN")"
    fi
    stop_handler

    start_handler "$RUNTIME" ""
    probe "without a secret: READY 2 at once, served" --no-secret
    stop_handler

    for bad in empty missing; do
        start_handler "$RUNTIME" "$T/$bad"
        for _ in $(seq 100); do kill -0 "$HANDLER_PID" 2> /dev/null || break; sleep 0.1; done
        wait "$HANDLER_PID" 2> /dev/null
        rc=$?
        check "$RUNTIME: a secret file $bad: exits, saying why" "yes yes" \
            "$([ "$rc" -ne 0 ] && echo yes || echo "rc $rc") $(grep -q TINYFAAS_SECRET_FILE "$T/$RUNTIME.err" && echo yes || echo no)"
        HANDLER_PID=
    done
done

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
