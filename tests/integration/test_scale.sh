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

# load SECONDS [GREETING...]: calls echo over HTTP and CoAP until then; every
# answer that is not GREETING:body (for one of the greetings given; default
# hi) goes to $T/bad, the number of rounds to $T/calls.
load() {
    local end=$(($(date +%s) + $1)) i=0 g ok
    shift
    local greetings=("${@:-hi}")
    : > "$T/bad"
    while [ "$(date +%s)" -lt "$end" ]; do
        i=$((i + 1))
        out=$(curl -s -m 10 -w ' %{http_code}' --data-binary "h$i" "http://127.0.0.1:$PORT/echo")
        ok=no
        for g in "${greetings[@]}"; do [ "$out" = "$g:h$i 200" ] && ok=yes; done
        [ $ok = yes ] || echo "http $i: $out" >> "$T/bad"
        out=$(timeout 10 coap-client-openssl -m post -e "c$i" "coap://127.0.0.1:$PORT/echo" 2>&1)
        ok=no
        for g in "${greetings[@]}"; do [ "$out" = "$g:c$i" ] && ok=yes; done
        [ $ok = yes ] || echo "coap $i: $out" >> "$T/bad"
    done
    echo "$i" > "$T/calls"
}

# scale N: sets CODE; body in $T/body.
scale() { mgmt POST /scale --data "{\"name\":\"echo\",\"threads\":$1}"; }

load 12 &
LOAD_PID=$!
sleep 1
scale 3
check "scale to 3: status" 200 "$CODE"
check "scale to 3: the URLs" "$(expected_urls echo)" "$(cat "$T/body")"
check "scale to 3: three handlers run" 3 "$(n_running --filter label=tinyfaas.function=echo)"
sleep 2
scale 1
check "scale to 1: status" 200 "$CODE"
check "scale to 1: one handler left" 1 "$(n_containers --filter label=tinyfaas.function=echo)"
sleep 2
scale 2
check "scale to 2: status" 200 "$CODE"
wait "$LOAD_PID"
check "calls made under load" yes "$([ "$(cat "$T/calls")" -gt 10 ] && echo yes || echo "$(cat "$T/calls")")"
check "no call failed while scaling" "" "$(head -5 "$T/bad")"
check "scaling built nothing" "$images_before" "$(n_images --filter label=tinyfaas.function=echo)"
mgmt GET /list -H 'Accept: application/json'
check "list shows 2 threads" 2 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["threads"])' "$T/body")"
call echo --data-binary after
check "new handlers keep the envs" "200 hi:after" "$CODE $(cat "$T/out")"

# --- a redeploy under load: old or new answers, never an error ------------
old_containers=$(docker ps -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | sort)
load 8 hi v2 &
LOAD_PID=$!
# Besides the checked answers, thousands of calls from the load generators.
load_start echo 4 6
sleep 1
deploy_ok echo 2 "$T/fn.zip" '["GREETING=v2"]'
wait "$LOAD_PID" "${LOAD_PIDS[@]}"
for p in h c; do
    check "redeploy under load ($p): no failed or timed-out call" "0 0" \
        "$(field "$T/${p}load.json" errors) $(field "$T/${p}load.json" timeouts)"
    check "redeploy under load ($p): hundreds of calls" yes \
        "$([ "$(field "$T/${p}load.json" ok)" -gt 300 ] && echo yes || echo "$(field "$T/${p}load.json" ok)")"
done
check "redeploy: calls made under load" yes "$([ "$(cat "$T/calls")" -gt 5 ] && echo yes || echo "$(cat "$T/calls")")"
check "redeploy: no call failed" "" "$(head -5 "$T/bad")"
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
