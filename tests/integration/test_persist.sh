#!/usr/bin/env bash
# Functions survive a restart of the daemon, clean (SIGTERM) or not
# (SIGKILL): they serve again with no re-upload, with their envs, limits and
# threads; a killed daemon's handlers, and with --live-restore a stopped
# one's, are adopted by the next start, never duplicated or left behind, and
# replaced when the daemon now makes handlers otherwise; a deleted function
# stays deleted; a kept copy with a field of the
# wrong type is skipped with a warning naming it, and the others still serve;
# a restart builds nothing (each image kept, found by what it was built
# from), so a function with dependencies comes back with no package index;
# a wipe while a restart brings functions back leaves none to come back.
#
#   test_persist.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
it_start_daemon

mkfn "$T/greet" 'printf "%s:" "$GREETING"; cat'
zipdir "$T/greet" "$T/greet.zip"
printf '{"name":"greet","env":"binary","threads":2,"zip":"%s","envs":["GREETING=hi"],"memory_mb":64}' \
    "$(base64 -w0 "$T/greet.zip")" > "$T/up.json"
mgmt POST /upload --data-binary "@$T/up.json"
check "deploy greet" 200 "$CODE"
mkfn "$T/plain" 'cat'
zipdir "$T/plain" "$T/plain.zip"
deploy_ok plain 1 "$T/plain.zip"
check "kept: greet's code, mode 0600" 600 "$(stat -c %a "$STATE/functions/greet/code.zip")"
check "kept: greet's settings" "greet binary 2 GREETING=hi 64" "$(python3 -c '
import json, sys; s = json.load(open(sys.argv[1]))
print(s["name"], s["env"], s["threads"], *s["envs"], s["memory_mb"])' "$STATE/functions/greet/spec.json")"

# back NAME BODY WANT LABEL: NAME answers BODY with WANT within 60 s.
back() {
    check "$4: $1 serves again" yes "$(answers_within 60 "$1" "$2" "$3")"
}

# serving LABEL: both functions answer, with the right numbers of objects.
serving() {
    back greet x "hi:x" "$1"
    back plain y "y" "$1"
    check "$1: greet has 2 handlers, no more" 2 "$(n_containers --filter label=tinyfaas.function=greet)"
    check "$1: plain has 1 handler, no more" 1 "$(n_containers --filter label=tinyfaas.function=plain)"
    check "$1: one network each" 2 "$(n_networks)"
    check "$1: greet's memory bound kept" 67108864 "$(docker inspect -f '{{.HostConfig.Memory}}' \
        "$(docker ps -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=greet | head -1)")"
}

# --- 1. SIGTERM, then start again -----------------------------------------
images=$(docker image ls -q --no-trunc --filter "label=tinyfaas.instance=$IID" | sort -u)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
check "SIGTERM: nothing left running; each function's network kept" "c=0 n=2" \
    "$(counts | cut -d' ' -f1,2)"
check "SIGTERM: the kept functions' images stay" "$images" \
    "$(docker image ls -q --no-trunc --filter "label=tinyfaas.instance=$IID" | sort -u)"
it_start_daemon
serving "after SIGTERM"
check "after SIGTERM: both images kept from before, nothing built" 2 \
    "$(grep -c 'deployed (image [0-9]* ms, kept from before' "$LOG")"
check "after SIGTERM: the same images" "$images" \
    "$(docker image ls -q --no-trunc --filter "label=tinyfaas.instance=$IID" | sort -u)"

# --- 2. SIGKILL: the handlers left running are adopted, not duplicated ---
# handler_ids: the running handlers' container ids, sorted.
handler_ids() { docker ps -q --no-trunc --filter "label=tinyfaas.instance=$IID" | sort; }
# fn_ids NAME: those of function NAME.
fn_ids() { docker ps -q --no-trunc --filter "label=tinyfaas.instance=$IID" --filter "label=tinyfaas.function=$1"; }
before=$(handler_ids)
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null
DAEMON_PID=
check "SIGKILL: the handlers are left running" 3 "$(n_running)"
it_start_daemon
serving "after SIGKILL"
check "after SIGKILL: the same handlers serve" "$before" "$(handler_ids)"
check "after SIGKILL: all three adopted" "greet:2 plain:1" "$(sed -n \
    's/.*function \([a-z]*\): deployed (.*, \([0-9]*\) left running adopted.*/\1:\2/p' "$LOG" | sort | xargs)"

# --- 2b. --live-restore: a stop leaves the handlers, the next start adopts
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
it_start_daemon --live-restore
serving "live restore, first start"
before=$(handler_ids)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
check "--live-restore: SIGTERM leaves the 3 handlers running" "$before" "$(handler_ids)"
check "--live-restore: the stop says so" 1 \
    "$(grep -c 'left 3 handler(s) running for the next start to adopt (--live-restore)$' "$LOG")"
check "--live-restore: their socket folders stay mounted" 3 \
    "$(grep -c " $STATE/sockets/" /proc/mounts)"
# One left running that no longer serves (paused) is replaced, not adopted.
stuck=$(docker ps -q --no-trunc --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=plain)
docker pause "$stuck" > /dev/null
it_start_daemon --live-restore
serving "live restore"
check "live restore: greet's same handlers serve" "$(grep -v "$stuck" <<< "$before")" \
    "$(handler_ids | grep -v "$(fn_ids plain)")"
check "live restore: plain's paused one is replaced" "1 no" \
    "$(fn_ids plain | wc -l) $(fn_ids plain | grep -q "$stuck" && echo yes || echo no)"
check "live restore: the replacement is told" 1 \
    "$(grep -c 'function plain: the handlers left running do not serve (.*); starting them anew$' "$LOG")"
check "live restore: the paused one is gone" 0 "$(docker ps -aq --filter "id=$stuck" | wc -l)"
# Adopted handlers keep their names: new ones beside them must not clash.
mgmt POST /scale --data '{"name":"greet","threads":3}'
check "live restore: greet scales to 3 beside its adopted 2" "200 3" \
    "$CODE $(n_running --filter label=tinyfaas.function=greet)"
deploy_ok plain 1 "$T/plain.zip"
mgmt POST /scale --data '{"name":"greet","threads":2}'
check "live restore: and back to 2" "200 2" "$CODE $(n_running --filter label=tinyfaas.function=greet)"
serving "live restore, changed"
before=$(handler_ids)
# Made otherwise now (TCP, not sockets): replaced, and their folders go.
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
it_start_daemon --handler-transport tcp
serving "handlers made otherwise"
check "handlers made otherwise: none adopted" 0 "$(grep -c 'left running adopted' "$LOG")"
check "handlers made otherwise: none of the old ones left" "" \
    "$(comm -12 <(echo "$before") <(handler_ids))"
check "handlers made otherwise: no socket folder left mounted" 0 \
    "$(grep -c " $STATE/sockets/" /proc/mounts)"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
it_start_daemon
serving "back on sockets"

# --- 3. deleted stays deleted; scaled stays scaled -------------------------
mgmt POST /delete --data '{"name":"plain"}'
check "delete plain" 200 "$CODE"
mgmt POST /scale --data '{"name":"greet","threads":3}'
check "scale greet to 3" 200 "$CODE"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
it_start_daemon
back greet z "hi:z" "after delete and scale"
check "greet came back with 3 handlers" 3 "$(n_running --filter label=tinyfaas.function=greet)"
call plain --data-binary y
check "plain stays deleted" 404 "$CODE"
check "plain's copy is gone" no "$([ -e "$STATE/functions/plain" ] && echo yes || echo no)"

# --- 4. a kept copy with a field of the wrong type is skipped, not fatal ---
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
# kept_copy NAME SPEC_JSON: a function folder written by hand, with plain's code.
kept_copy() {
    mkdir -p "$STATE/functions/$1"
    printf '%s' "$2" > "$STATE/functions/$1/spec.json"
    cp "$T/plain.zip" "$STATE/functions/$1/code.zip"
}
kept_copy bad-envs '{"name":"bad-envs","env":"binary","threads":1,"envs":[1]}'
kept_copy bad-threads '{"name":"bad-threads","env":"binary","threads":"2","envs":[]}'
it_start_daemon
back greet w "hi:w" "beside bad copies"
mgmt GET /list
check "bad copies: only greet listed" "$(printf 'greet\n' | od -c)" "$(od -c < "$T/body")"
for _ in $(seq 150); do grep -q "kept function(s) back" "$LOG" && break; sleep 0.2; done
check "bad copies: the summary points at the warnings" 1 \
    "$(grep -c ' info 1 of 3 kept function(s) back; see the warnings above$' "$LOG")"
# warned NAME REASON: how many warnings skipped NAME's spec.json for REASON.
warned() { grep -cF "warn kept function in $STATE/functions/$1/spec.json: $2; skipped" "$LOG"; }
check "bad copies: envs named" 1 "$(warned bad-envs 'field "envs"[0] is not a string')"
check "bad copies: threads named" 1 "$(warned bad-threads 'field "threads" is not a whole number')"
call bad-envs --data-binary y
check "bad copies: not served" 404 "$CODE"
check "bad copies: left for the operator" yes \
    "$([ -e "$STATE/functions/bad-envs/spec.json" ] && echo yes || echo no)"
require_daemon

# --- 5. offline: a function with a dependency comes back with no registry --
ENV=nodejs
mkdir -p "$T/dep"
printf '{"name":"dep","main":"index.js","dependencies":{"is-number":"7.0.0"}}' > "$T/dep/package.json"
printf 'const isNumber = require("is-number");\nmodule.exports = (req, res) => res.send(isNumber(req.body) ? "number" : "not a number");\n' \
    > "$T/dep/index.js"
zipdir "$T/dep" "$T/dep.zip"
deploy_ok dep 1 "$T/dep.zip"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
# No container may reach beyond the host now: the package registry is out of reach.
offline() { iptables -I DOCKER-USER 1 -j REJECT -m comment --comment tinyfaas-test-offline; }
online() { iptables -D DOCKER-USER -j REJECT -m comment --comment tinyfaas-test-offline 2> /dev/null || true; }
trap 'rc=$?; online; (exit $rc); cleanup' EXIT
offline
it_start_daemon
back dep 42 number "offline"
# The others come back side by side: counted once all are back.
for _ in $(seq 300); do grep -q "kept function(s) back" "$LOG" && break; sleep 0.2; done
check "offline: dep's image kept from before" 1 \
    "$(grep -c 'function dep: deployed (image [0-9]* ms, kept from before' "$LOG")"
# The same dependency in a new function needs the registry: the test can fail.
sed -i 's/"dep"/"dep2"/' "$T/dep/package.json"
zipdir "$T/dep" "$T/dep2.zip"
before=$(counts)
deploy dep2 1 "$T/dep2.zip"
check "offline: a new build with a dependency fails" 400 "$CODE"
check "offline: and leaves nothing" "$before" "$(counts)"
online

# --- 6. a wipe while a restart brings functions back: none comes back ------
mgmt POST /wipe
check "wipe before the many" 200 "$CODE"
before=$(counts)
ENV=binary
for i in $(seq 12); do
    deploy "many$i" 1 "$T/plain.zip"
    [ "$CODE" = 200 ] || break
done
check "twelve functions deployed" 200 "$CODE"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
# Twelve take more than one round of the restore's eight workers, and with
# their images gone each is built again, the builds taking turns in as many
# slots as the machine has cores: the wipe comes while some are still on
# their way back, or not yet started, however fast the machine.
docker image rm -f $(docker image ls -q --filter "label=tinyfaas.instance=$IID" \
    --filter "label=tinyfaas.function" | sort -u) > /dev/null
it_start_daemon
mgmt POST /wipe
check "wipe during the restore" 200 "$CODE"
for _ in $(seq 300); do grep -q "kept function(s) back" "$LOG" && break; sleep 0.2; done
check "the wipe caught functions not back yet" yes \
    "$(grep -qE 'many[0-9]+: deleted (before it came back|\(it had not come back\))' "$LOG" && echo yes)"
mgmt GET /list
check "after the wipe: none listed" "" "$(cat "$T/body")"
check "after the wipe: no copy kept" 0 "$(find "$STATE/functions" -mindepth 1 -maxdepth 1 | wc -l)"
check "after the wipe: no container, network or image left" "$before" "$(counts)"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
it_start_daemon
mgmt GET /list
check "wiped stays wiped across a restart" "200 " "$CODE $(cat "$T/body")"

it_finish
