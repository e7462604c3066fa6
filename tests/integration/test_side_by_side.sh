#!/usr/bin/env bash
# Changes side by side: while one function builds for a long time, every
# management call on other functions and the healing of their handlers go
# on; builds of different functions run at once; two uploads of one name
# are done in the order they came, the later one's code serving.
#
#   test_side_by_side.sh DAEMON SOURCE_ROOT
set -u
source "$(dirname "$0")/lib.sh"
it_init "$@"
it_start_daemon

# slow_c DIR WHAT: a c function whose compile takes a while (each of its
# four files includes a header 2^19 times) and that answers WHAT.
slow_c() {
    rm -rf "$1"
    mkdir -p "$1"
    printf '#if __INCLUDE_LEVEL__ < 19\n#include "slow.h"\n#include "slow.h"\n#endif\n' > "$1/slow.h"
    printf '#include "tinyfaas.h"\nint tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)\n{\n    (void)req;\n    return tinyfaas_set_string(res, "%s");\n}\n' "$2" > "$1/fn.c"
    for i in 1 2 3 4; do printf '#include "slow.h"\nint slow%d;\n' "$i" > "$1/slow$i.c"; done
}

# deploy_bg NAME ZIP TAG: deploys in the background (pid in BG_PID); the
# status lands in $T/TAG.code, the body in $T/TAG.body.
deploy_bg() {
    upload_body "$1" 1 "$2" > "$T/$3.json"
    (timeout 600 curl -s -o "$T/$3.body" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $TINYFAAS_TOKEN" --data-binary "@$T/$3.json" \
        "http://127.0.0.1:$MPORT/upload" > "$T/$3.code") &
    BG_PID=$!
}

# building TAG: whether the background deploy TAG has not answered yet.
building() { [ ! -s "$T/$1.code" ]; }

ENV=binary
for f in other victim scaled; do
    mkfn "$T/$f" "echo $f"
    zipdir "$T/$f" "$T/$f.zip"
    deploy_ok "$f" 1 "$T/$f.zip"
done

# --- 1. a long build holds up nothing of the other functions' ----------------
ENV=c
slow_c "$T/slow" slow
zipdir "$T/slow" "$T/slow.zip"
deploy_bg slow "$T/slow.zip" slow
SLOW_PID=$BG_PID
# Wait until its build runs: the daemon logs the deploy's start.
for _ in $(seq 100); do grep -q "function slow: deploying" "$LOG" && break; sleep 0.1; done

# during LABEL METHOD PATH [CURL ARGS]: a management call answered while the build runs.
during() {
    local label=$1 start
    shift
    start=$(date +%s%N)
    mgmt "$@"
    echo "# $label answered in $((($(date +%s%N) - start) / 1000000)) ms"
    check "$label: answered while slow builds" yes "$(building slow && echo yes || echo "no: the build ended first")"
}
during "/list" GET /list
check "/list: the functions that serve" "$(printf 'other\nscaled\nvictim')" "$(cat "$T/body")"
during "/logs of other" GET "/logs?name=other"
check "/logs of other: status" 200 "$CODE"
during "/scale of scaled" POST /scale --data-binary '{"name":"scaled","threads":2}'
check "/scale of scaled: status" 200 "$CODE"
check "/scale of scaled: two handlers" 2 "$(n_running --filter label=tinyfaas.function=scaled)"
during "/delete of victim" POST /delete --data-binary victim
check "/delete of victim: status" 200 "$CODE"
check "/delete of victim: gone" "c=0 n=0 i=0" "$(fn_counts victim)"

# Healing: other's handler killed; it is replaced while slow still builds.
docker kill "$(docker ps -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=other)" > /dev/null
start=$(date +%s%N)
for _ in $(seq 200); do
    call other
    [ "$CODE" = 200 ] && break
    sleep 0.1
done
echo "# other's killed handler replaced, serving again in $((($(date +%s%N) - start) / 1000000)) ms"
check "healing during the build: other serves" "200 other" "$CODE $(cat "$T/out")"
check "healing during the build: while slow still builds" yes "$(building slow && echo yes || echo "no: the build ended first")"

wait "$SLOW_PID"
check "slow: deployed" 200 "$(cat "$T/slow.code")"
call slow
check "slow: serves" "200 slow" "$CODE $(cat "$T/out")"

# --- 2. builds of different functions run at once ----------------------------
if [ "$(nproc)" -ge 2 ]; then
    slow_c "$T/slow2" two
    zipdir "$T/slow2" "$T/slow2.zip"
    slow_c "$T/slow3" three
    zipdir "$T/slow3" "$T/slow3.zip"
    deploy_bg slow2 "$T/slow2.zip" slow2
    P2=$BG_PID
    deploy_bg slow3 "$T/slow3.zip" slow3
    P3=$BG_PID
    wait "$P2" "$P3"
    check "two builds: both deployed" "200 200" "$(cat "$T/slow2.code") $(cat "$T/slow3.code")"
    # Both started before either was done: the log's order of events.
    check "two builds: side by side" "deploying deploying deployed deployed" \
        "$(grep -oE 'function slow[23]: (deploying|deployed)' "$LOG" | awk '{print $3}' | tr '\n' ' ' | sed 's/ $//')"
else
    echo "# one core: builds take turns, side by side not checked"
fi

# --- 3. two uploads of one name: in the order they came ----------------------
slow_c "$T/first" first
zipdir "$T/first" "$T/first.zip"
ENV=binary
mkfn "$T/second" 'echo second'
zipdir "$T/second" "$T/second.zip"
ENV=c
deploy_bg order "$T/first.zip" first
P1=$BG_PID
for _ in $(seq 100); do grep -q "function order: deploying" "$LOG" && break; sleep 0.1; done
ENV=binary
deploy_bg order "$T/second.zip" second
P2=$BG_PID
wait "$P1" "$P2"
check "same name: both deployed" "200 200" "$(cat "$T/first.code") $(cat "$T/second.code")"
call order
check "same name: the later upload serves" "200 second" "$CODE $(tr -d '\n' < "$T/out")"
check "same name: one version left" "c=1 n=1" "$(fn_counts order | cut -d' ' -f1-2)"

it_finish
