#!/usr/bin/env bash
# Changing a function while clients keep calling it over HTTP and CoAP:
# scaling with POST /scale adds and removes handler containers with no new
# build, and a redeploy of new code answers every call with the old version
# or the new one; no call fails, and the old containers go once drained.
#
#   test_scale.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
it_start_daemon

mkfn "$T/fn" 'printf "%s:" "$GREETING"; cat'
zipdir "$T/fn" "$T/fn.zip"
deploy_ok echo 1 "$T/fn.zip" '["GREETING=hi"]'
images_before=$(n_images --filter label=tinyfaas.function=echo)

# load [GREETING...]: calls echo over HTTP and CoAP, one call after the
# other, until load_end (or 2000 rounds). Every answer that is not
# GREETING:body (for one of the greetings given; default hi) goes to $T/bad,
# the greeting of each good one to $T/seen, the rounds made to $T/rounds.
load() {
    local i=0 g out good
    local greetings=("${@:-hi}")
    : > "$T/bad"
    : > "$T/seen"
    echo 0 > "$T/rounds"
    rm -f "$T/stop"
    while [ ! -e "$T/stop" ] && [ $i -lt 2000 ]; do
        i=$((i + 1))
        out=$(curl -s -m 10 -w ' %{http_code}' --data-binary "h$i" "http://127.0.0.1:$PORT/echo")
        good=
        for g in "${greetings[@]}"; do [ "$out" = "$g:h$i 200" ] && good=$g; done
        [ -n "$good" ] && echo "$good" >> "$T/seen" || echo "http $i: $out" >> "$T/bad"
        out=$(timeout 10 coap-client-openssl -m post -e "c$i" "coap://127.0.0.1:$PORT/echo" 2>&1)
        good=
        for g in "${greetings[@]}"; do [ "$out" = "$g:c$i" ] && good=$g; done
        [ -n "$good" ] && echo "$good" >> "$T/seen" || echo "coap $i: $out" >> "$T/bad"
        echo "$i" > "$T/rounds"
    done
}
load_begin() {
    load "$@" &
    LOAD_PID=$!
}
load_end() {
    touch "$T/stop"
    wait "$LOAD_PID"
}

# rounds_pass N: waits until the load has made N more rounds (a guard of
# 120 s); prints yes, or how many it made.
rounds_pass() {
    local r0 r
    r0=$(cat "$T/rounds" 2> /dev/null || echo 0)
    for _ in $(seq 600); do
        r=$(cat "$T/rounds" 2> /dev/null || echo 0)
        [ $((r - r0)) -ge "$1" ] && { echo yes; return; }
        sleep 0.2
    done
    echo "$((r - r0)) rounds"
}

# scale N: sets CODE; body in $T/body.
scale() { mgmt POST /scale --data "{\"name\":\"echo\",\"threads\":$1}"; }

load_begin
check "calls answered before scaling" yes "$(rounds_pass 2)"
scale 3
check "scale to 3: status" 200 "$CODE"
check "scale to 3: the URLs" "$(expected_urls echo)" "$(cat "$T/body")"
check "scale to 3: three handlers run" 3 "$(n_running --filter label=tinyfaas.function=echo)"
check "scale to 3: calls answered after" yes "$(rounds_pass 3)"
scale 1
check "scale to 1: status" 200 "$CODE"
check "scale to 1: one handler left" 1 "$(n_containers --filter label=tinyfaas.function=echo)"
check "scale to 1: calls answered after" yes "$(rounds_pass 3)"
scale 2
check "scale to 2: status" 200 "$CODE"
check "scale to 2: calls answered after" yes "$(rounds_pass 3)"
load_end
check "no call failed while scaling" "" "$(head -5 "$T/bad")"
check "scaling built nothing" "$images_before" "$(n_images --filter label=tinyfaas.function=echo)"
mgmt GET /list -H 'Accept: application/json'
check "list shows 2 threads" 2 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["threads"])' "$T/body")"
call echo --data-binary after
check "new handlers keep the envs" "200 hi:after" "$CODE $(cat "$T/out")"

# --- a redeploy under load: old or new answers, never an error ------------
# Besides the checked answers, the load generators' calls, many at a time.
old_containers=$(docker ps -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | sort)
load_begin hi v2
load_start echo 4
check "redeploy: calls answered before" yes "$(rounds_pass 2)"
check "redeploy: generators' calls answered before" yes "$(load_wait_ok 50)"
deploy_ok echo 2 "$T/fn.zip" '["GREETING=v2"]'
check "redeploy: calls answered after" yes "$(rounds_pass 3)"
check "redeploy: generators' calls answered after" yes "$(load_wait_ok 50)"
load_end
load_stop
for p in h c; do
    check "redeploy under load ($p): no failed or timed-out call" "0 0" \
        "$(field "$T/${p}load.json" errors) $(field "$T/${p}load.json" timeouts)"
done
check "redeploy: no call failed" "" "$(head -5 "$T/bad")"
check "redeploy: the old version answered, then the new" "hi v2" "$(uniq "$T/seen" | tr '\n' ' ' | sed 's/ $//')"
call echo --data-binary now
check "redeploy: the new version answers" "200 v2:now" "$CODE $(cat "$T/out")"
check "redeploy: the old containers are gone" "" \
    "$(comm -12 <(echo "$old_containers") <(docker ps -aq --filter "label=tinyfaas.instance=$IID" | sort))"

# --- bad scale calls: a clear reason, nothing changes ----------------------
bad_scale() {
    mgmt POST /scale --data "$1"
    check "scale $1: status" "$2" "$CODE"
    check "scale $1: reason" "$3" "$(cat "$T/body")"
}
bad_scale '{"name":"echo","threads":0}' 400 "threads must be between 1 and 64, not 0"
bad_scale '{"name":"echo","threads":65}' 400 "threads must be between 1 and 64, not 65"
bad_scale '{"name":"echo"}' 400 'missing "threads"'
bad_scale '{"name":"nosuch","threads":2}' 404 "no function named 'nosuch'"
check "bad scale calls changed nothing" 2 "$(n_running --filter label=tinyfaas.function=echo)"

it_finish
