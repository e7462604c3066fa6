#!/usr/bin/env bash
# The benchmark: in one run on this machine, the floor (a bare CoAP echo
# responder driven by the same load generator), then tinyfaas end to end over
# CoAP and HTTP for the c and python3 echo functions, the same handlers driven
# alone (no daemon), the daemon's memory and CPU per call, deploy times, and
# the c echo run again just before 99 more functions are deployed, with the
# 100 (one of them, all of them round-robin, and their handlers round-robin
# with no daemon), a restart with the 100, and once the 99 are deleted; every figure with its ratio to
# the floor (calls/s at 64 in flight, p50 at 1 in flight) and its p50 in
# hops (a bare round trip between two processes, measured here too, as is the
# handler's transport with no work). wrk, when it can be installed, adds HTTP
# calls/s as the HTTP world counts them. docs/benchmark.md says what each row
# tells.
#
#   tools/bench.sh [BUILD_DIR [TINY_BUILD_DIR]]
#
# BUILD_DIR defaults to build; TINY_BUILD_DIR, a build of the tiny profile
# (deps/README.md), to build-tiny when it holds a daemon: its idle memory is
# printed beside BUILD_DIR's. Needs Docker; loopback only.
#
# Environment: BENCH_SECONDS (per run, default 10); BENCH_ONLY=metrics runs
# only the cost of recording metrics (docs/metrics.md), BENCH_ONLY=swarm
# only the Swarm row (docs/swarm.md): both also end the whole run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
TINY=${2:-$ROOT/build-tiny}
[ -x "$TINY/tinyfaas" ] || TINY=
SECS=${BENCH_SECONDS:-10}
T=$(mktemp -d /tmp/tinyfaas-bench.XXXXXX)
PORT=$((30000 + RANDOM % 5000)) MPORT=$((35000 + RANDOM % 5000)) FPORT=$((40000 + RANDOM % 5000))
DAEMON_PID= FLOOR_PID= METRICS_PIDS=()
export TINYFAAS_TOKEN=bench-$RANDOM$RANDOM$RANDOM
AUTH=(-H "Authorization: Bearer $TINYFAAS_TOKEN")
LOAD="$BUILD/tools/coap-load" HLOAD="$BUILD/tools/http-load"
# Each run lasts its SECS: the load generators' call bound (100 000 by
# default, a fraction of a second at the floor's pace) is set past reach,
# within the 10^9 they take.
N=(-n $((SECS * 2000000 < 1000000000 ? SECS * 2000000 : 1000000000)))

cleanup() {
    [ -n "$FLOOR_PID" ] && kill "$FLOOR_PID" 2>/dev/null
    metrics_daemons_stop
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT

source "$ROOT/scripts/lib.sh"
# wrk gives HTTP calls/s the way the HTTP world measures it (a row of its own).
command -v wrk > /dev/null || TINYFAAS_PACKAGES=wrk tf_install_packages > /dev/null 2>&1 || true

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])" "$@"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
shared_objects() { awk '$6 ~ /\.so/ {print $6}' "/proc/$1/maps" | sort -u | wc -l; }
mb() { python3 -c "print(f'{$1 / 1024:.1f}')"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# median_of OUT: of the runs OUT.1, OUT.2 and OUT.3, the one with the median
# calls/s becomes OUT.
median_of() {
    cp "$(python3 -c 'import json, sys
runs = sorted(sys.argv[1:], key=lambda f: json.load(open(f))["calls_per_s"])
print(runs[1])' "$1".1 "$1".2 "$1".3)" "$1"
}

# --- daemons of their own, beside the main one ---------------------------------
M_PORTS=()
metrics_daemons_stop() {
    local i
    for i in "${!METRICS_PIDS[@]}"; do
        kill -TERM "${METRICS_PIDS[$i]}" 2>/dev/null && wait "${METRICS_PIDS[$i]}" 2>/dev/null || true
        "$BUILD/tinyfaas" --purge --state-dir "$T/metrics-$i" > /dev/null 2>&1 || true
    done
    METRICS_PIDS=()
}
# metrics_daemon I [ARGS...]: daemon I on ports of its own, the c echo
# deployed with ECHO_THREADS handlers (1).
metrics_daemon() {
    local i=$1 port=$((PORT + 10 + $1 * 2)) zip=$T/metrics-echo-c.zip
    shift
    "$BUILD/tinyfaas" --coap-port "$port" --http-port "$port" --mgmt-port $((port + 1)) \
        --state-dir "$T/metrics-$i" "$@" > "$T/metrics-$i.log" 2>&1 &
    METRICS_PIDS[i]=$!
    M_PORTS[i]=$port
    for _ in $(seq 100); do curl -fs "${AUTH[@]}" "http://127.0.0.1:$((port + 1))/list" > /dev/null && break; sleep 0.1; done
    [ -e "$zip" ] || (cd "$ROOT/examples/echo/c" && zip -qr "$zip" .)
    curl -fs "${AUTH[@]}" "http://127.0.0.1:$((port + 1))/upload" --data-binary @<(printf '{"name":"echo-c","env":"c","threads":%s,"zip":"%s"}' \
        "${ECHO_THREADS:-1}" "$(base64 -w0 "$zip")") > /dev/null
    until [ "$(curl -s -d x "http://127.0.0.1:$port/echo-c")" = x ]; do sleep 0.01; done
}
# --- the cost of metrics ---------------------------------------------------------
# Two fresh daemons side by side, one recording metrics and one run with
# --no-metrics, each serving the c echo; the CoAP load at 64 in flight goes to
# one, then the other, three times, so drift falls on both alike. Each
# figure is the median of its three runs.

# metrics_on_off: prints the line of calls/s with metrics on and off.
metrics_on_off() {
    metrics_daemon 0
    metrics_daemon 1 --no-metrics
    local i k
    for i in 0 1; do # the c runtime's first calls, unmeasured, as elsewhere
        "$LOAD" "${N[@]}" -j -c 64 -d 2 "coap://127.0.0.1:${M_PORTS[i]}/echo-c" > /dev/null
    done
    for k in 1 2 3; do
        # Each first in turn: neither gains from the order.
        for i in $([ "$k" = 2 ] && echo 1 0 || echo 0 1); do
            "$LOAD" "${N[@]}" -j -c 64 -d "$SECS" "coap://127.0.0.1:${M_PORTS[i]}/echo-c" > "$T/metrics-$i.json.$k"
        done
    done
    median_of "$T/metrics-0.json"
    median_of "$T/metrics-1.json"
    metrics_daemons_stop
    local on off
    on=$(json "$T/metrics-0.json" calls_per_s) off=$(json "$T/metrics-1.json" calls_per_s)
    echo "metrics, c echo over CoAP at 64 in flight (each the median of 3 runs, alternated):" \
        "on $(printf '%.0f' "$on") calls/s, off (--no-metrics) $(printf '%.0f' "$off") calls/s," \
        "on/off $(python3 -c "print(f'{$on / $off:.3f}')"); p50 on $(json "$T/metrics-0.json" p50_us) us," \
        "off $(json "$T/metrics-1.json" p50_us) us; the runs, on: $(metrics_runs 0), off: $(metrics_runs 1)"
}
# metrics_runs I: the calls/s of daemon I's three runs, in order.
metrics_runs() {
    local k out=()
    for k in 1 2 3; do out+=("$(printf '%.0f' "$(json "$T/metrics-$1.json.$k" calls_per_s)")"); done
    (IFS=/; echo "${out[*]}")
}
# --- Swarm: the network hop ------------------------------------------------------
# The c echo with 4 handlers, on the one engine (unix sockets) and as a Swarm
# service of 4 replicas over the two nodes of the test bed
# (tests/integration/swarm_lib.sh: node 2 a second engine in a network
# namespace, behind a veth link), each driven over CoAP at 64 in flight and
# at 1, alternated three times; each figure the median of its three runs.
swarm_hop() {
    source "$ROOT/tests/integration/swarm_lib.sh"
    local why
    if ! why=$(swarm_can_run 2>&1); then
        echo "swarm: not measured, the test bed cannot be built here: $why"
        return
    fi
    trap 'swarm_down; cleanup' EXIT
    swarm_up || { echo "swarm: not measured, the test bed did not come up"; return; }
    ECHO_THREADS=4 metrics_daemon 2 --backend docker
    ECHO_THREADS=4 metrics_daemon 3 --backend swarm --registry "$SWARM_REGISTRY"
    local i k c
    for i in 2 3; do
        "$LOAD" "${N[@]}" -j -c 64 -d 2 "coap://127.0.0.1:${M_PORTS[i]}/echo-c" > /dev/null
    done
    for k in 1 2 3; do
        for i in $([ "$k" = 2 ] && echo 3 2 || echo 2 3); do
            for c in 64 1; do
                "$LOAD" "${N[@]}" -j -c "$c" -d "$SECS" "coap://127.0.0.1:${M_PORTS[i]}/echo-c" \
                    > "$T/swarm-$i-$c.json.$k"
            done
        done
    done
    for i in 2 3; do for c in 64 1; do median_of "$T/swarm-$i-$c.json"; done; done
    local nodes
    nodes=$(curl -s "${AUTH[@]}" -H 'Accept: application/json' "http://127.0.0.1:$((M_PORTS[3] + 1))/list" |
        python3 -c 'import json,sys; print(" ".join(sorted(r["node"] for r in json.load(sys.stdin)[0]["replicas"])))')
    metrics_daemons_stop
    swarm_down
    trap cleanup EXIT
    local d64 s64 d1 s1
    d64=$(json "$T/swarm-2-64.json" calls_per_s) s64=$(json "$T/swarm-3-64.json" calls_per_s)
    d1=$(json "$T/swarm-2-1.json" p50_us) s1=$(json "$T/swarm-3-1.json" p50_us)
    echo "swarm, c echo with 4 handlers over CoAP (each the median of 3 runs, alternated):" \
        "at 64 in flight, swarm (replicas on $nodes) $(printf '%.0f' "$s64") calls/s," \
        "docker $(printf '%.0f' "$d64") calls/s, swarm/docker $(python3 -c "print(f'{$s64 / $d64:.3f}')");" \
        "p50 at 1 in flight, swarm $s1 us, docker $d1 us: the hop over TCP to a node costs" \
        "$(python3 -c "print(f'{$s1 - $d1:.0f}')") us; errors swarm $(json "$T/swarm-3-64.json" errors)," \
        "docker $(json "$T/swarm-2-64.json" errors)"
}
case "${BENCH_ONLY:-}" in
metrics)
    metrics_on_off
    exit 0
    ;;
swarm)
    swarm_hop
    exit 0
    ;;
esac

ROWS=()
# row LABEL JSON_FILE: one line of the table.
row() {
    local f=$2 cps p50 p99
    cps=$(json "$f" calls_per_s)
    p50=$(json "$f" p50_us)
    p99=$(json "$f" p99_us)
    ROWS+=("$(printf '%-40s %10.0f %6.3f %9.1f %6.1f %5.1f %9.1f %7.1f %9.1f %4s %4s %4s' "$1" "$cps" \
        "$(python3 -c "print($cps / $FLOOR_CPS)")" "$p50" "$(python3 -c "print($p50 / $FLOOR_P50)")" \
        "$(python3 -c "print($p50 / $HOP_P50)")" \
        "$(json "$f" p90_us)" "$p99" "$(json "$f" p999_us)" "$(json "$f" errors)" \
        "$(json "$f" timeouts)" "$(json "$f" duplicates)")")
}

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "# $SECS s per run, 16-byte payload, latencies in microseconds"

# --- 1. the floor and the hop -------------------------------------------------
"$BUILD/tools/coap-floor" -p "$FPORT" -t 600 2> "$T/floor.err" &
FLOOR_PID=$!
sleep 0.3
"$LOAD" "${N[@]}" -j -s 200 -c 1 -d "$SECS" "coap://127.0.0.1:$FPORT/echo" > "$T/floor1.json"
"$LOAD" "${N[@]}" -j -c 64 -d "$SECS" "coap://127.0.0.1:$FPORT/echo" > "$T/floor64.json"
# The floor again with the calls spread over many client endpoints, as from
# that many devices (coap-load -e: a source address each).
for e in 64 1000 20000; do
    "$LOAD" "${N[@]}" -j -c 64 -e "$e" -d "$SECS" "coap://127.0.0.1:$FPORT/echo" > "$T/floor-e$e.json"
done
FLOOR_CPS=$(json "$T/floor64.json" calls_per_s)
FLOOR_P50=$(json "$T/floor1.json" p50_us)
kill "$FLOOR_PID"
FLOOR_PID=
# The hop: one byte to another process and back, each asleep in read() until
# it comes, which the floor never pays (one process, busy-polling at 1 in
# flight) and every call to a handler does; then the handler's transport, a
# c handler whose function does nothing, over its unix socket.
"$BUILD/tools/hop-rtt" -j -d "$SECS" > "$T/hop.json"
taskset -c "$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')" \
    "$BUILD/tools/hop-rtt" -j -d "$SECS" > "$T/hop-one-cpu.json"
HOP_P50=$(json "$T/hop.json" p50_us)
TINYFAAS_SOCKET=$T/hop.sock "$BUILD/tools/hop-handler" 2> "$T/hop-handler.err" &
FLOOR_PID=$!
for _ in $(seq 100); do [ -S "$T/hop.sock" ] && break; sleep 0.05; done
"$BUILD/tools/hproto-load" "${N[@]}" -j -c 1 -d "$SECS" "$T/hop.sock" > "$T/transport1.json"
"$BUILD/tools/hproto-load" "${N[@]}" -j -c 64 -d "$SECS" "$T/hop.sock" > "$T/transport64.json"
kill "$FLOOR_PID"
FLOOR_PID=
row "floor, CoAP, 1 in flight" "$T/floor1.json"
row "floor, CoAP, 64 in flight" "$T/floor64.json"
for e in 64 1000 20000; do row "floor, CoAP, 64, $e endpoints" "$T/floor-e$e.json"; done
row "hop, process to process, 1 in flight" "$T/hop.json"
row "hop, both on one CPU, 1 in flight" "$T/hop-one-cpu.json"
row "handler transport, no work, 1 in flight" "$T/transport1.json"
row "handler transport, no work, 64 in flight" "$T/transport64.json"

# What any libcoap program costs here: libcoap's example server, idle, without
# DTLS and with it over GnuTLS (Debian's builds; the daemon's DTLS is over Mbed TLS).
LIBCOAP_RSS=()
for variant in notls gnutls; do
    coap-server-$variant -p "$FPORT" > /dev/null 2>&1 &
    FLOOR_PID=$!
    sleep 0.5
    LIBCOAP_RSS+=("$variant $(mb "$(rss_kb "$FLOOR_PID")") MB ($(mb "$(anon_kb "$FLOOR_PID")") MB its own)")
    kill "$FLOOR_PID"
    FLOOR_PID=
done

# The tiny profile's daemon, idle, with no function: what the default build's
# idle figures below are set against.
TINY_LINE=
if [ -n "$TINY" ]; then
    "$TINY/tinyfaas" --coap-port "$PORT" --http-port "$PORT" --mgmt-port "$MPORT" \
        --state-dir "$T/tiny-state" > "$T/tiny.log" 2>&1 &
    FLOOR_PID=$!
    for _ in $(seq 100); do curl -fs "${AUTH[@]}" "http://127.0.0.1:$MPORT/list" > /dev/null && break; sleep 0.1; done
    TINY_LINE="tiny profile RSS: idle $(mb "$(rss_kb "$FLOOR_PID")") MB ($(mb "$(anon_kb "$FLOOR_PID")") MB its own;"
    TINY_LINE+=" PSS $(mb "$(pss_kb "$FLOOR_PID")") MB), $(shared_objects "$FLOOR_PID") shared objects ($TINY)"
    kill "$FLOOR_PID"
    wait "$FLOOR_PID" 2>/dev/null || true
    FLOOR_PID=
fi

# --- 2. tinyfaas --------------------------------------------------------------
"$BUILD/tinyfaas" --coap-port "$PORT" --http-port "$PORT" --mgmt-port "$MPORT" \
    --state-dir "$T/state" > "$T/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do curl -fs "${AUTH[@]}" "http://127.0.0.1:$MPORT/list" > /dev/null && break; sleep 0.1; done
"$BUILD/tinyfaas" --build-images --state-dir "$T/state" > "$T/images.log" 2>&1
IDLE_KB=$(rss_kb "$DAEMON_PID") IDLE_ANON_KB=$(anon_kb "$DAEMON_PID") IDLE_PSS_KB=$(pss_kb "$DAEMON_PID")
IDLE_OBJECTS=$(shared_objects "$DAEMON_PID")

# deploy ENV EXAMPLE NAME: prints the seconds from /upload sent to the first good call.
deploy() {
    local start zip=$T/$3.zip
    (cd "$ROOT/examples/$2/$1" && zip -qr "$zip" .)
    start=$(date +%s.%N)
    curl -fs "${AUTH[@]}" "http://127.0.0.1:$MPORT/upload" --data-binary @<(printf '{"name":"%s","env":"%s","threads":1,"zip":"%s"}' \
        "$3" "$1" "$(base64 -w0 "$zip")") > /dev/null
    until [ "$(curl -s -d x "http://127.0.0.1:$PORT/$3")" = x ]; do sleep 0.01; done
    python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')"
}
DEPLOYS=()
for env in binary c python3 nodejs; do
    DEPLOYS+=("$env $(deploy "$env" echo "echo-$env")")
done

# --- 3. the handler alone: the handler protocol straight to its container -----
IID=$(cat "$T/state/instance-id")
# handlers PATTERN: where the handlers of the functions whose names match
# PATTERN listen, one per line: the unix socket in the container's mounted
# folder, or with the TCP transport its address on the function's network.
handlers() {
    # shellcheck disable=SC2046
    docker inspect -f '{{index .Config.Labels "tinyfaas.function"}} {{range .Mounts}}{{.Source}}/handler.sock{{end}}|{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}:8000' \
        $(docker ps -q --filter "label=tinyfaas.instance=$IID") |
        awk -F'|' -v want="^($1)\$" '{split($1, f, " "); if (f[1] ~ want) print (f[2] != "" ? f[2] : $2)}'
}
for fn in c python3; do
    "$BUILD/tools/hproto-load" "${N[@]}" -j -c 64 -d "$SECS" "$(handlers "echo-$fn" | head -1)" > "$T/handler-$fn.json"
    row "handler alone, $fn echo, 64 in flight" "$T/handler-$fn.json"
done

CPU0=$(cpu_ticks "$DAEMON_PID")
CALLS=0
for fn in c python3; do
    for c in 1 16 64; do
        spin=$([ "$c" = 1 ] && echo "-s 200" || true)
        # shellcheck disable=SC2086
        "$LOAD" "${N[@]}" -j $spin -c "$c" -d "$SECS" "coap://127.0.0.1:$PORT/echo-$fn" > "$T/coap-$fn-$c.json"
        row "tinyfaas $fn echo, CoAP, $c in flight" "$T/coap-$fn-$c.json"
        CALLS=$((CALLS + $(json "$T/coap-$fn-$c.json" calls)))
    done
    for c in 1 64; do
        "$HLOAD" "${N[@]}" -j -c "$c" -d "$SECS" "http://127.0.0.1:$PORT/echo-$fn" > "$T/http-$fn-$c.json"
        row "tinyfaas $fn echo, HTTP, $c conns" "$T/http-$fn-$c.json"
        CALLS=$((CALLS + $(json "$T/http-$fn-$c.json" calls)))
    done
done
CPU1=$(cpu_ticks "$DAEMON_PID")
PEAK_KB=$(hwm_kb "$DAEMON_PID")

WRK_LINE="wrk: not installed"
if command -v wrk > /dev/null; then
    printf 'wrk.method = "POST"\nwrk.body = "0123456789abcdef"\n' > "$T/post.lua"
    WRK_CPS=$(wrk -t 1 -c 64 -d "${SECS}s" -s "$T/post.lua" "http://127.0.0.1:$PORT/echo-c" |
        awk '/^Requests\/sec/ {print $2}')
    WRK_LINE="wrk, c echo, HTTP, 64 connections: $WRK_CPS calls/s, $(python3 -c "print(f'{$WRK_CPS / $FLOOR_CPS:.3f}')") of the floor"
fi

# --- 4. a hundred functions -----------------------------------------------------
# The rows below are compared with each other to a few percent, finer than
# this machine's drift over a minute: each is the median of three runs, and
# one function alone is measured just before the 99 are deployed and again
# once they are deleted, so a drift over those minutes shows as a gap
# between the two and the comparison is made against their mean.
# one_function_median NAME LABEL: three runs of the c echo alone; their median
# is $T/NAME.json and a row.
one_function_median() {
    for k in 1 2 3; do
        "$LOAD" "${N[@]}" -j -c 64 -d "$SECS" "coap://127.0.0.1:$PORT/echo-c" > "$T/$1.json.$k"
    done
    median_of "$T/$1.json"
    row "$2" "$T/$1.json"
}
one_function_median coap-c-64-before "tinyfaas c echo, CoAP, 64, before the 99"
start=$(date +%s)
URLS=("coap://127.0.0.1:$PORT/echo-c")
for i in $(seq 1 99); do
    deploy c echo "echo-c-$i" > /dev/null
    URLS+=("coap://127.0.0.1:$PORT/echo-c-$i")
done
DEPLOY99=$(($(date +%s) - start))
RSS100_KB=$(rss_kb "$DAEMON_PID")
# The engine keeps busy for a while after a hundred deploys; the runs measure
# the steady state, once a second passes with the machine at most 10 % busy.
busy_share() {
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    local idle=$((b[4] + b[5] - a[4] - a[5])) total=0
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    echo $(((total - idle) * 100 / (total > 0 ? total : 1)))
}
SETTLE=0
while [ "$SETTLE" -lt 60 ] && [ "$(busy_share)" -gt 10 ]; do SETTLE=$((SETTLE + 1)); done
# Two seconds round-robin first, unmeasured: the new handlers get their first
# calls (the c runtime times its first 64 before it runs calls inline), as the
# one-function runs above had theirs.
"$LOAD" "${N[@]}" -j -c 64 -d 2 "${URLS[@]}" > /dev/null
# One function and all of them are alternated, so drift falls on both alike.
# The 100 handlers are also driven alone, round-robin, with no daemon in
# front: the most any front end could reach over them here.
mapfile -t HANDLERS < <(handlers 'echo-c|echo-c-[0-9]+')
for k in 1 2 3; do
    "$LOAD" "${N[@]}" -j -c 64 -d "$SECS" "coap://127.0.0.1:$PORT/echo-c" > "$T/coap-c-64-of-100.json.$k"
    "$LOAD" "${N[@]}" -j -c 64 -d "$SECS" "${URLS[@]}" > "$T/coap-c-64-rr-100.json.$k"
    "$BUILD/tools/hproto-load" "${N[@]}" -j -c 64 -d "$SECS" "${HANDLERS[@]}" > "$T/handler-c-rr-100.json.$k"
done
median_of "$T/coap-c-64-of-100.json"
row "tinyfaas c echo, CoAP, 64, 100 deployed" "$T/coap-c-64-of-100.json"
median_of "$T/coap-c-64-rr-100.json"
row "tinyfaas c echo, CoAP, 64, round-robin 100" "$T/coap-c-64-rr-100.json"
median_of "$T/handler-c-rr-100.json"
row "handlers alone, c echo, 64, round-robin ${#HANDLERS[@]}" "$T/handler-c-rr-100.json"
# Restarts with the 100 deployed: SIGTERM, start again, and the seconds
# until every one of them answers. Their images are kept and found again:
# nothing is built. Cold, every handler is started anew (a reboot); with
# --live-restore the stop leaves them running and the start adopts them.
# restart_100 LOG [ARGS...]: sets RESTART_S, the seconds until all 100 answer
# (not in a subshell: DAEMON_PID must stay this shell's).
restart_100() {
    local log=$1 start u
    shift
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" || true
    start=$(date +%s.%N)
    "$BUILD/tinyfaas" --coap-port "$PORT" --http-port "$PORT" --mgmt-port "$MPORT" \
        --state-dir "$T/state" "$@" > "$log" 2>&1 &
    DAEMON_PID=$!
    for u in "${URLS[@]}"; do
        u=http${u#coap}
        until [ "$(curl -s -d x "$u")" = x ]; do sleep 0.05; done
    done
    RESTART_S=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
}
restart_100 "$T/daemon2.log" --live-restore
RESTART_COLD=$RESTART_S
RESTART_BUILT=$(grep -c ': deployed (image' "$T/daemon2.log" || true)
RESTART_KEPT=$(grep -c 'kept from before' "$T/daemon2.log" || true)
restart_100 "$T/daemon3.log" --live-restore
RESTART_LIVE=$RESTART_S
RESTART_ADOPTED=$(grep -o '[0-9]* left running adopted' "$T/daemon3.log" | awk '{n += $1} END {print n + 0}')
restart_100 "$T/daemon4.log" # on without --live-restore: its stop removes them
# The engine's own floor for the cold restart: as many handlers of the echo
# image made and started over its API, 8 at a time as the daemon does, each
# on its function's network, with no daemon waiting for them to say ready.
engine_start() {
    curl -s -o /dev/null --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' \
        -d "{\"Image\":\"$1\",\"User\":\"65534:65534\",\"HostConfig\":{\"NetworkMode\":\"$2\"},\"Labels\":{\"tinyfaas.bench\":\"$IID\"}}" \
        "http://d/containers/create?name=tinyfaas-bench-$IID-$3"
    curl -s --unix-socket /var/run/docker.sock -X POST "http://d/containers/tinyfaas-bench-$IID-$3/start"
}
FLOOR_IMAGE=$(docker image ls --format '{{.Repository}}:{{.Tag}}' --filter "label=tinyfaas.function=echo-c" | head -1)
FLOOR_NETS=($(docker network ls --format '{{.Name}}' --filter "label=tinyfaas.instance=$IID"))
start=$(date +%s.%N)
starting=()
for i in "${!FLOOR_NETS[@]}"; do
    engine_start "$FLOOR_IMAGE" "${FLOOR_NETS[$i]}" "$i" &
    starting+=($!)
    if [ ${#starting[@]} -eq 8 ]; then
        wait "${starting[@]}" # not a bare wait: the daemon is a child too
        starting=()
    fi
done
wait "${starting[@]}"
ENGINE_FLOOR=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
docker rm -f $(docker ps -aq --filter "label=tinyfaas.bench=$IID") > /dev/null
# The one-function runs again once the 99 are gone, the other side of the
# bracket.
for i in $(seq 1 99); do
    curl -fs "${AUTH[@]}" -d "{\"name\":\"echo-c-$i\"}" "http://127.0.0.1:$MPORT/delete" > /dev/null
done
one_function_median coap-c-64-after "tinyfaas c echo, CoAP, 64, the 99 deleted"
cps() { json "$T/$1.json" calls_per_s; }
ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
BEFORE_CPS=$(cps coap-c-64-before) AFTER_CPS=$(cps coap-c-64-after)
ALONE_CPS=$(python3 -c "print(($BEFORE_CPS + $AFTER_CPS) / 2)")

# --- 5. many devices -----------------------------------------------------------
# The c echo at 64 in flight, each call from the next of 64, 1 000 and
# 20 000 client endpoints, then from 64 again: what remembering every device
# costs in calls/s and in memory.
EP_RSS0=$(rss_kb "$DAEMON_PID")
for e in 64 1000 20000 64; do
    f=$T/coap-c-e$e.json
    [ -e "$f" ] && f=$T/coap-c-e$e-again.json
    "$LOAD" "${N[@]}" -j -c 64 -e "$e" -d "$SECS" "coap://127.0.0.1:$PORT/echo-c" > "$f"
    [ "$e" = 20000 ] && EP_RSS1=$(rss_kb "$DAEMON_PID")
    row "tinyfaas c echo, 64, $e endpoints$([[ $f == *again* ]] && echo ', again')" "$f"
done

printf '\n%-40s %10s %6s %9s %6s %5s %9s %7s %9s %4s %4s %4s\n' "what" "calls/s" "ratio" "p50" "ratio" \
    "hops" "p90" "p99" "p99.9" "err" "t/o" "dup"
printf '%s\n' "${ROWS[@]}"
echo
echo "daemon RSS: idle $(mb "$IDLE_KB") MB ($(mb "$IDLE_ANON_KB") MB its own, the rest shared library pages;" \
    "PSS $(mb "$IDLE_PSS_KB") MB), $IDLE_OBJECTS shared objects," \
    "peak (VmHWM) $(mb "$PEAK_KB") MB, with 100 functions $(mb "$RSS100_KB") MB"
[ -n "$TINY_LINE" ] && echo "$TINY_LINE"
echo "daemon CPU per call: $(python3 -c "print(f'{($CPU1 - $CPU0) / $(getconf CLK_TCK) / $CALLS * 1e6:.1f}')") µs over $CALLS calls"
echo "floor RSS: $(grep -o 'VmHWM[^,]*' "$T/floor.err" 2>/dev/null || cat "$T/floor.err");" \
    "libcoap's example server, idle: ${LIBCOAP_RSS[0]}, ${LIBCOAP_RSS[1]}"
echo "deploy to first call, images cached (s): ${DEPLOYS[*]}; 99 more c functions: ${DEPLOY99} s" \
    "(then ${SETTLE} s until the machine was idle)"
echo "100 functions, c echo at 64 in flight (each row the median of 3 runs), against one function alone," \
    "the mean of the runs before the 99 were deployed and after they were deleted" \
    "($(ratio "$AFTER_CPS" "$BEFORE_CPS") of the first): one of 100 $(ratio "$(cps coap-c-64-of-100)" "$ALONE_CPS")," \
    "round-robin $(ratio "$(cps coap-c-64-rr-100)" "$ALONE_CPS"); round-robin's ceiling here, the" \
    "${#HANDLERS[@]} handlers driven alone with no daemon: $(ratio "$(cps handler-c-rr-100)" "$ALONE_CPS")"
echo "restart with 100 functions (SIGTERM, start, until all 100 answer): cold $RESTART_COLD s" \
    "($RESTART_KEPT of $RESTART_BUILT images kept from before; the engine alone starts as many" \
    "containers ${#FLOOR_NETS[@]} on their networks in $ENGINE_FLOOR s); --live-restore $RESTART_LIVE s" \
    "($RESTART_ADOPTED handlers adopted)"
echo "$WRK_LINE"
echo "many devices, c echo at 64 in flight: from 20000 endpoints $(ratio "$(cps coap-c-e20000)" "$(cps coap-c-e64)")" \
    "of the calls/s from 64 (the floor: $(ratio "$(json "$T/floor-e20000.json" calls_per_s)" "$(json "$T/floor-e64.json" calls_per_s)")," \
    "from 1000 $(ratio "$(cps coap-c-e1000)" "$(cps coap-c-e64)"));" \
    "from 64 again after them $(ratio "$(cps coap-c-e64-again)" "$(cps coap-c-e64)") of before;" \
    "RSS after 20000 endpoints $(mb $((EP_RSS1 - EP_RSS0))) MB above before them"
metrics_on_off
swarm_hop
