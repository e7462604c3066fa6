#!/usr/bin/env bash
# Input limits of the management API: each answers its 4xx with a one-line
# reason and leaves nothing behind (no image, network or container).
#
#   test_limits.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
it_start_daemon

# refused LABEL STATUS REASON FILE [PATH]: POSTs FILE to PATH (/upload).
refused() {
    mgmt POST "${5:-/upload}" --data-binary "@$4"
    check "$1: status" "$2" "$CODE"
    check "$1: reason" "$3" "$(cat "$T/body")"
}

# body_for NAME ZIP [MORE_JSON_MEMBERS] > file
body_for() {
    printf '{"name":"%s","env":"binary","threads":1,"zip":"%s"%s}' "$1" "$(base64 -w0 "$2")" "${3:+,$3}"
}

mkfn "$T/fn" 'cat'

# --- a zip bomb: small zipped, past 256 MiB unpacked -----------------------
head -c $((300 << 20)) /dev/zero > "$T/fn/zeros"
zipdir "$T/fn" "$T/bomb.zip"
rm "$T/fn/zeros"
body_for bomb "$T/bomb.zip" > "$T/b.json"
check "the bomb is small zipped" yes "$([ "$(stat -c %s "$T/bomb.zip")" -lt $((2 << 20)) ] && echo yes || echo no)"
refused "zip bomb" 413 "the zip unpacks to more than 268435456 bytes (at entry 'zeros')" "$T/b.json"

# --- too many entries --------------------------------------------------------
mkdir -p "$T/many"
cp "$T/fn/fn.sh" "$T/many/"
(cd "$T/many" && seq 1 10001 | xargs touch)
zipdir "$T/many" "$T/many.zip"
body_for many "$T/many.zip" > "$T/b.json"
refused "10 002 entries" 413 "the zip holds more than 10000 entries" "$T/b.json"

# --- a body past 64 MiB ------------------------------------------------------
head -c $(((64 << 20) + 1)) /dev/zero | tr '\0' 'a' > "$T/big.json"
refused "a 64 MiB + 1 byte body" 413 "request body too large" "$T/big.json"

# --- envs: too many, or not KEY=VALUE ---------------------------------------
zipdir "$T/fn" "$T/fn.zip"
envs=$(python3 -c 'import json; print(json.dumps([f"K{i}=v" for i in range(257)]))')
body_for envs "$T/fn.zip" "\"envs\":$envs" > "$T/b.json"
refused "257 envs" 400 '"envs" has more than 256 entries' "$T/b.json"
body_for envs "$T/fn.zip" '"envs":["NOEQUALS"]' > "$T/b.json"
refused "envs entry without =" 400 "envs entry 'NOEQUALS' is not KEY=VALUE" "$T/b.json"
body_for envs "$T/fn.zip" '"envs":[7]' > "$T/b.json"
refused "envs entry not a string" 400 '"envs" must be an array of "KEY=VALUE" strings' "$T/b.json"

# --- names ---------------------------------------------------------------------
body_for "$(printf 'a%.0s' $(seq 64))" "$T/fn.zip" > "$T/b.json"
refused "a 64-character name" 400 \
    "invalid function name '$(printf 'a%.0s' $(seq 64))': use [A-Za-z0-9][A-Za-z0-9_-]{0,62}" "$T/b.json"

# --- uploadURL: another scheme, an address that does not answer -------------
printf '{"name":"u","env":"binary","threads":1,"url":"file:///etc/passwd"}' > "$T/b.json"
refused "uploadURL file://" 400 "url must start with http:// or https://" "$T/b.json" /uploadURL
DEAD=$(pick_port "$PORT")
printf '{"name":"u","env":"binary","threads":1,"url":"http://127.0.0.1:%s/fn.zip"}' "$DEAD" > "$T/b.json"
mgmt POST /uploadURL --data-binary "@$T/b.json"
check "uploadURL, nobody listening: status" 400 "$CODE"
check "uploadURL, nobody listening: reason" "cannot download url: Couldn't connect to server" "$(cat "$T/body")"

# --- uploadURL over HTTPS from a server whose certificate nobody vouches for:
# refused for that reason (a libcurl without TLS would say "Unsupported
# protocol", one that does not verify would deploy).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls.key" -out "$T/tls.crt" -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2> /dev/null
cp "$T/fn.zip" "$T/tls-fn.zip"
TLS_PORT=$(pick_port "$PORT")
(cd "$T" && exec openssl s_server -quiet -WWW -accept "$TLS_PORT" -cert tls.crt -key tls.key) \
    > /dev/null 2>&1 &
TLS_PID=$!
for _ in $(seq 300); do
    curl -fs --cacert "$T/tls.crt" -o /dev/null "https://127.0.0.1:$TLS_PORT/tls-fn.zip" && break
    sleep 0.1
done
check "the HTTPS server serves the zip to a client that trusts it" 200 \
    "$(curl -s --cacert "$T/tls.crt" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$TLS_PORT/tls-fn.zip")"
printf '{"name":"u","env":"binary","threads":1,"url":"https://127.0.0.1:%s/tls-fn.zip"}' "$TLS_PORT" > "$T/b.json"
refused "uploadURL, untrusted certificate" 400 \
    "cannot download url: SSL peer certificate or SSH remote key was not OK" "$T/b.json" /uploadURL
kill "$TLS_PID"
wait "$TLS_PID" 2> /dev/null

body_for t "$T/fn.zip" '"timeout_s":3601' > "$T/b.json"
refused "timeout_s 3601" 400 "timeout_s must be between 1 and 3600, not 3601" "$T/b.json"
body_for t "$T/fn.zip" '"timeout_s":1.5' > "$T/b.json"
refused "timeout_s 1.5" 400 '"timeout_s" must be a whole number of seconds, at most 3600' "$T/b.json"

check "no limit left anything behind" "c=0 n=0 i=0" "$(counts)"
mgmt GET /list
check "and no function was made" "" "$(cat "$T/body")"

# --- a function's own timeout ------------------------------------------------
mkfn "$T/slow" 'sleep 4; echo late'
zipdir "$T/slow" "$T/slow.zip"
body_for quick "$T/slow.zip" '"timeout_s":1' > "$T/b.json"
mgmt POST /upload --data-binary "@$T/b.json"
check "deploy with timeout_s 1" 200 "$CODE"
deploy_ok patient 1 "$T/slow.zip"
call quick --data-binary x
check "timeout_s 1, a 4 s call: 504" "504 function timed out" "$CODE $(cat "$T/out")"
coap quick x
check "timeout_s 1 over CoAP: 5.04" "5.04 function timed out" "$(cat "$T/cerr")"
call patient --data-binary x
check "the default timeout (30 s) lets it finish" "200 late" "$CODE $(cat "$T/out")"
mgmt GET /list -H 'Accept: application/json'
check "list: each function's timeout_s" "patient 30 quick 1" "$(python3 -c '
import json, sys
print(*[f["name"] + " " + str(f["timeout_s"]) for f in json.load(open(sys.argv[1]))])' "$T/body")"

# --- the most calls in flight per handler, and its bounded queue -------------
body_for c "$T/fn.zip" '"concurrency":257' > "$T/b.json"
refused "concurrency 257" 400 "concurrency must be between 1 and 256, not 257" "$T/b.json"
body_for c "$T/fn.zip" '"concurrency":"x"' > "$T/b.json"
refused "concurrency x" 400 '"concurrency" must be a number' "$T/b.json"
# The function notices a call running beside it (a lock dir in its /tmp);
# the one that holds the lock runs until the test lets it end (/tmp/go, made
# with docker exec; 30 s at most), so what overlaps does not hang on timing.
mkfn "$T/lock" 'mkdir /tmp/busy 2> /dev/null || { echo overlap; exit 0; }
i=0; while [ ! -e /tmp/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
rmdir /tmp/busy; echo alone'
zipdir "$T/lock" "$T/lock.zip"
body_for one "$T/lock.zip" '"concurrency":1' > "$T/b.json"
mgmt POST /upload --data-binary "@$T/b.json"
check "deploy with concurrency 1" 200 "$CODE"
deploy_ok many 1 "$T/lock.zip"
# in_handler NAME CMD: runs CMD in NAME's handler container.
in_handler() {
    docker exec "$(docker ps -q --filter "label=tinyfaas.instance=$IID" --filter "label=tinyfaas.function=$1")" \
        sh -c "$2"
}
# call_bg NAME I: a call in the background; "status body" lands in $T/r$I.
call_bg() {
    (curl -s -m 60 -o "$T/p$2" -w '%{http_code}' --data-binary x "http://127.0.0.1:$PORT/$1" > "$T/c$2"
        echo "$(cat "$T/c$2") $(cat "$T/p$2")" > "$T/r$2") &
    BG_PIDS+=($!)
}
# holding NAME: waits until a call of NAME holds the lock (30 s at most).
holding() {
    for _ in $(seq 150); do in_handler "$1" 'test -d /tmp/busy' && return; sleep 0.2; done
}
# answered I...: waits until one of those calls has answered (30 s at most).
answered() {
    for _ in $(seq 150); do
        for i in "$@"; do [ -s "$T/r$i" ] && return; done
        sleep 0.2
    done
}
# results I...: those calls' "status body" lines, sorted (wait for them first).
results() { for i in "$@"; do cat "$T/r$i"; done | sort; }
BG_PIDS=()
call_bg many 1
holding many
call_bg many 2
answered 2
in_handler many 'touch /tmp/go'
wait "${BG_PIDS[@]}"
check "no limit: two calls overlap (the probe works)" "$(printf '200 alone\n200 overlap')" "$(results 1 2)"
# concurrency 1: the first call holds the handler, the second waits in the
# queue, the third finds it full; so does a CoAP call.
call_bg one 3
holding one
call_bg one 4
call_bg one 5
answered 4 5
coap one x
check "concurrency 1 over CoAP: 5.03 when full" "5.03 function busy" "$(cat "$T/cerr")"
in_handler one 'touch /tmp/go'
wait "${BG_PIDS[@]}"
check "concurrency 1: one runs, one waits, the third is refused" \
    "$(printf '200 alone\n200 alone\n503 function busy: every handler is at its concurrency and the queue is full')" \
    "$(results 3 4 5)"

it_finish
