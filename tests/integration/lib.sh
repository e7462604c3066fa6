# Shared by the integration tests: a daemon of their own on free ports with
# a temporary state dir, clients with timeouts, exact checks, and a cleanup
# that removes every Docker object labelled with that daemon's instance id.
# Source it, then: it_init DAEMON SOURCE_ROOT; it_start_daemon [ARGS...];
# ...checks...; it_finish.

# it_init DAEMON SOURCE_ROOT
it_init() {
    DAEMON=${1:?usage: $0 DAEMON SOURCE_ROOT}
    SRC=${2:?usage: $0 DAEMON SOURCE_ROOT}
    DAEMON=$(readlink -f "$DAEMON")
    # One engine for every test: containers, whether or not it is a swarm
    # manager (test_swarm.sh asks for swarm itself).
    export TINYFAAS_BACKEND=${TINYFAAS_BACKEND:-docker}
    PASS=0
    FAIL=0
    DAEMON_PID=
    IID=
    ALL_IIDS=
    SUMMARY=no
    ENV=binary
    LOAD_PIDS=()
    T=$(mktemp -d /tmp/tinyfaas-it.XXXXXX)
    LOG=$T/daemon.log
    STATE=$T/state
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# it_finish: the summary line; the exit status tells whether all passed.
it_finish() {
    [ "$FAIL" -gt 0 ] && show_log
    SUMMARY=yes
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}

# --- helpers --------------------------------------------------------------

# check NAME EXPECTED ACTUAL
check() {
    if [ "$2" == "$3" ]; then
        PASS=$((PASS + 1))
        echo "ok $1"
    else
        FAIL=$((FAIL + 1))
        echo "FAIL $1: expected $(printf '%q' "$2") got $(printf '%q' "$3")"
    fi
}

# check_file NAME EXPECTED_FILE ACTUAL_FILE: byte-exact comparison.
check_file() {
    if cmp -s "$2" "$3"; then
        check "$1" same same
    else
        check "$1" "$(wc -c < "$2") bytes as in $2" \
            "$( [ -e "$3" ] && wc -c < "$3" || echo missing) bytes, differing: $(cmp "$2" "$3" 2>&1 | head -1)"
    fi
}

show_log() {
    echo "--- daemon log (tail) ---"
    tail -n 60 "$LOG" 2>/dev/null
    echo "---"
}

cleanup() {
    local rc=$?
    [ ${#LOAD_PIDS[@]} -gt 0 ] && kill -KILL "${LOAD_PIDS[@]}" 2> /dev/null
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
    fi
    if [ "$SUMMARY" != yes ] && { [ "$FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; }; then
        show_log
    fi
    local iid f ids
    # An engine being restarted (another suite's self-healing test) is
    # waited for: a cleanup that runs while it is down leaves everything.
    for _ in $(seq 60); do docker version > /dev/null 2>&1 && break; sleep 1; done
    for iid in $(printf '%s\n' $IID $ALL_IIDS | sort -u); do
        f=label=tinyfaas.instance=$iid
        # On a swarm manager: the instance's services first (their tasks go
        # with them), then its secrets.
        ids=$(docker service ls -q --filter "$f" 2>/dev/null)
        [ -n "$ids" ] && docker service rm $ids > /dev/null 2>&1
        for _ in $(seq 40); do
            [ -z "$ids" ] || [ -z "$(docker ps -aq --filter "$f" 2>/dev/null)" ] && break
            sleep 0.5
        done
        ids=$(docker secret ls -q --filter "$f" 2>/dev/null)
        [ -n "$ids" ] && docker secret rm $ids > /dev/null 2>&1
        ids=$(docker ps -aq --filter "$f" 2>/dev/null)
        [ -n "$ids" ] && docker rm -f $ids > /dev/null 2>&1
        # A network goes only once the engine has let go of the endpoints
        # of the containers just removed: a few tries.
        for _ in 1 2 3 4 5; do
            ids=$(docker network ls -q --filter "$f" 2>/dev/null)
            [ -z "$ids" ] && break
            docker network rm $ids > /dev/null 2>&1 || sleep 0.5
        done
        ids=$(docker image ls -q --no-trunc --filter "$f" 2>/dev/null | sort -u)
        [ -n "$ids" ] && docker image rm -f $ids > /dev/null 2>&1
    done
    # Socket folders a killed daemon, or one run with --live-restore, left mounted.
    awk -v t="$T/" 'index($2, t) == 1 {print $2}' /proc/mounts | xargs -r umount -l 2> /dev/null
    rm -rf "$T"
    exit "$rc"
}

port_free() {
    ! ss -ltunH 2>/dev/null | awk '{print $5}' | grep -q ":$1\$"
}

pick_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 10000))
        if port_free "$p" && [ "$p" != "${1:-}" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Counts of Docker objects carrying our instance label (and more filters).
n_containers() { docker ps -aq --filter "label=tinyfaas.instance=$IID" "$@" | wc -l; }
n_running() { docker ps -q --filter "label=tinyfaas.instance=$IID" "$@" | wc -l; }
n_networks() { docker network ls -q --filter "label=tinyfaas.instance=$IID" "$@" | wc -l; }
n_images() { docker image ls -q --no-trunc --filter "label=tinyfaas.instance=$IID" "$@" | sort -u | wc -l; }
counts() { echo "c=$(n_containers "$@") n=$(n_networks "$@") i=$(n_images "$@")"; }
fn_counts() { counts --filter "label=tinyfaas.function=$1"; }

# Ends the suite at once when the daemon died (a crash), rather than letting
# every later client wait out its timeout.
require_daemon() {
    if [ -n "$DAEMON_PID" ] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
        check "daemon still running" yes "died"
        DAEMON_PID=
        it_finish
        exit 1
    fi
}

# mgmt METHOD PATH [CURL ARGS...]: sets CODE; the body is in $T/body.
mgmt() {
    require_daemon
    local method=$1 path=$2
    shift 2
    CODE=$(timeout 120 curl -s -o "$T/body" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $TINYFAAS_TOKEN" "$@" "http://127.0.0.1:$MPORT$path")
    [ -n "$CODE" ] || CODE=none
}

# call NAME [CURL ARGS...]: HTTP invocation; sets CODE, body in $T/out.
call() {
    require_daemon
    local name=$1
    shift
    rm -f "$T/out"
    CODE=$(timeout 30 curl -s -o "$T/out" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT/$name")
    [ -n "$CODE" ] || CODE=none
    [ -e "$T/out" ] || : > "$T/out"
}

# load_start NAME CONCURRENCY: the project's load generators call NAME over
# HTTP and over CoAP in the background (pids in LOAD_PIDS) until load_stop,
# at most LOAD_MAX_CALLS calls each or 300 s. Their figures land in
# $T/hload.json and $T/cload.json; what they have had answered so far, in
# $T/hload.progress and $T/cload.progress.
LOAD_MAX_CALLS=2000000
load_start() {
    local tools p
    tools=$(dirname "$DAEMON")/tools
    for p in h c; do rm -f "$T/${p}load.progress" "$T/${p}load.json"; done
    "$tools/http-load" -j -c "$2" -n "$LOAD_MAX_CALLS" -d 300 -P "$T/hload.progress" \
        "http://127.0.0.1:$PORT/$1" > "$T/hload.json" &
    LOAD_PIDS=($!)
    "$tools/coap-load" -j -c "$2" -n "$LOAD_MAX_CALLS" -d 300 -P "$T/cload.progress" \
        "coap://127.0.0.1:$PORT/$1" > "$T/cload.json" &
    LOAD_PIDS+=($!)
}

# load_ok h|c: the calls that generator has had answered 2.xx so far.
load_ok() {
    local ok=0
    [ -s "$T/${1}load.progress" ] && read -r ok _ < "$T/${1}load.progress"
    echo "$ok"
}

# load_wait_ok N: waits until both generators have had N more calls answered
# 2.xx than when called (a guard of 120 s); prints yes, or the counts.
load_wait_ok() {
    local h0 c0 h c
    h0=$(load_ok h) c0=$(load_ok c)
    for _ in $(seq 600); do
        h=$(load_ok h) c=$(load_ok c)
        [ $((h - h0)) -ge "$1" ] && [ $((c - c0)) -ge "$1" ] && { echo yes; return; }
        sleep 0.2
    done
    echo "http $((h - h0)) coap $((c - c0)) more answered"
}

# load_stop: ends both generators' runs; their reports follow.
load_stop() {
    kill -TERM "${LOAD_PIDS[@]}" 2> /dev/null
    wait "${LOAD_PIDS[@]}"
}

# field FILE KEY: a member of the JSON object in FILE (the load tools' -j).
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# answers_within SECONDS NAME BODY WANT: prints yes once an HTTP call of NAME
# with BODY answers 200 WANT, or what it last got when time runs out.
answers_within() {
    local tries=$(($1 * 5)) got=
    for _ in $(seq "$tries"); do
        call "$2" --data-binary "$3"
        got="$CODE $(cat "$T/out")"
        [ "$got" = "200 $4" ] && { echo yes; return; }
        sleep 0.2
    done
    echo "$got"
}

# coap NAME [PAYLOAD]: CoAP POST; payload bytes in $T/cout (empty when
# none), coap-client's stderr in $T/cerr, its exit status in CRC.
coap() {
    require_daemon
    local name=$1
    rm -f "$T/cout"
    if [ $# -ge 2 ]; then
        timeout 30 coap-client-openssl -m post -e "$2" -o "$T/cout" \
            "coap://127.0.0.1:$PORT/$name" > "$T/cstdout" 2> "$T/cerr"
    else
        timeout 30 coap-client-openssl -m post -o "$T/cout" \
            "coap://127.0.0.1:$PORT/$name" > "$T/cstdout" 2> "$T/cerr"
    fi
    CRC=$?
    [ -e "$T/cout" ] || : > "$T/cout"
}

# mkfn DIR SCRIPT: a function folder holding an executable fn.sh.
mkfn() {
    rm -rf "$1"
    mkdir -p "$1"
    printf '#!/bin/sh\n%s\n' "$2" > "$1/fn.sh"
    chmod 755 "$1/fn.sh"
}

# zipdir DIR ZIP: the folder's contents at the zip root.
zipdir() {
    rm -f "$2"
    (cd "$1" && zip -q -r "$2" .)
}

# upload_body NAME THREADS ZIP [ENVS_JSON] > file (runtime: $ENV)
upload_body() {
    printf '{"name":"%s","env":"%s","threads":%s,"zip":"%s","envs":%s}' \
        "$1" "$ENV" "$2" "$(base64 -w0 "$3")" "${4:-[]}"
}

# deploy NAME THREADS ZIP [ENVS_JSON]: sets CODE, body in $T/body.
deploy() {
    upload_body "$@" > "$T/up.json"
    mgmt POST /upload --data-binary "@$T/up.json"
}

expected_urls() {
    printf 'coap://127.0.0.1:%s/%s\nhttp://127.0.0.1:%s/%s\n' "$PORT" "$1" "$PORT" "$1"
}

# deploy_ok NAME THREADS ZIP [ENVS_JSON]: deploy and check the answer.
deploy_ok() {
    deploy "$@"
    check "deploy $1: status" 200 "$CODE"
    check "deploy $1: urls" "$(expected_urls "$1" | od -c)" "$(od -c < "$T/body")"
}

# it_start_daemon [DAEMON ARGS...]: starts the daemon on free ports with its
# own state dir and waits until the management API answers.
# The daemon takes its management token from $TINYFAAS_TOKEN, made up here,
# and mgmt() sends it; with IT_TOKEN_FROM_STATE=1 the daemon makes its own.
it_start_daemon() {
    if [ "${IT_TOKEN_FROM_STATE:-}" = 1 ]; then
        unset TINYFAAS_TOKEN
    else
        export TINYFAAS_TOKEN=${TINYFAAS_TOKEN:-it-$$-$RANDOM$RANDOM}
    fi
    PORT=$(pick_port) || { echo "no free port"; exit 1; }
    MPORT=$(pick_port "$PORT") || { echo "no free port"; exit 1; }
    mkdir -p "$STATE"
    echo "# daemon $DAEMON, ports $PORT (coap/http) $MPORT (mgmt), state $STATE"
    "$DAEMON" --coap-port "$PORT" --http-port "$PORT" --mgmt-port "$MPORT" \
        --state-dir "$STATE" "$@" > "$LOG" 2>&1 &
    DAEMON_PID=$!

    up=no
    for _ in $(seq 300); do
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        [ -z "$IID" ] && [ -s "$STATE/instance-id" ] && IID=$(tr -d '\n' < "$STATE/instance-id")
        if [ -n "$IID" ] && timeout 2 curl -s -o /dev/null "http://127.0.0.1:$MPORT/list"; then
            up=yes
            break
        fi
        sleep 0.2
    done
    [ -z "$IID" ] && [ -s "$STATE/instance-id" ] && IID=$(tr -d '\n' < "$STATE/instance-id")
    # Every instance's objects are removed at the end: kept functions' images
    # outlive their daemon, whatever state dir it had.
    [ -s "$STATE/instance-id" ] && ALL_IIDS="$ALL_IIDS $(tr -d '\n' < "$STATE/instance-id")"
    check "daemon up" yes "$up"
    if [ "$up" != yes ]; then
        show_log
        SUMMARY=yes
        echo "$PASS passed, $FAIL failed"
        exit 1
    fi
}
