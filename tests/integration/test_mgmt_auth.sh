#!/usr/bin/env bash
# The management API's bearer token, against a real daemon and Docker engine.
#
#   test_mgmt_auth.sh DAEMON SOURCE_ROOT
#
# A daemon with no TINYFAAS_TOKEN makes a token of its own in the state dir
# (mode 0600, shown once in the log) and keeps it across restarts; a missing
# or wrong token gets 401 with a reason and changes nothing; invocation needs
# no token, nor does the dashboard's page; TINYFAAS_TOKEN overrides the file;
# --no-auth opens the API and says so at every start.
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"

# stop_daemon: SIGTERM and wait, as an operator restarting it would.
stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID"
    DAEMON_PID=
}

# raw METHOD PATH [CURL ARGS...]: a management call with only the headers
# given; sets CODE, body in $T/body, headers in $T/headers.
raw() {
    local method=$1 path=$2
    shift 2
    CODE=$(timeout 60 curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' -X "$method" "$@" \
        "http://127.0.0.1:$MPORT$path")
}

REASON="missing or wrong management token: send 'Authorization: Bearer TOKEN' (TINYFAAS_TOKEN)"

# refused LABEL METHOD PATH [CURL ARGS...]: expects 401, its reason and header.
refused() {
    local label=$1
    shift
    raw "$@"
    check "$label: status" 401 "$CODE"
    check "$label: reason" "$REASON" "$(cat "$T/body")"
    check "$label: WWW-Authenticate" 'Bearer realm="tinyfaas"' \
        "$(tr -d '\r' < "$T/headers" | sed -n 's/^WWW-Authenticate: //Ip')"
}

# --- 1. a token of its own ------------------------------------------------
IT_TOKEN_FROM_STATE=1 it_start_daemon
check "token file made" yes "$([ -s "$STATE/token" ] && echo yes || echo no)"
check "token file mode" 600 "$(stat -c %a "$STATE/token")"
TOKEN=$(cat "$STATE/token")
check "token: 64 hex digits" yes "$([[ $TOKEN =~ ^[0-9a-f]{64}$ ]] && echo yes || echo "$TOKEN")"
check "token shown once in the log" 1 "$(grep -c -- "$TOKEN" "$LOG")"
export TINYFAAS_TOKEN=$TOKEN

# --- 2. no token, a wrong one, the wrong scheme: 401, nothing made ---------
mkfn "$T/fn" 'cat'
zipdir "$T/fn" "$T/fn.zip"
upload_body echo 1 "$T/fn.zip" > "$T/up.json"
refused "upload, no token" POST /upload --data-binary "@$T/up.json"
refused "upload, wrong token" POST /upload -H "Authorization: Bearer ${TOKEN}x" \
    --data-binary "@$T/up.json"
refused "upload, token cut short" POST /upload -H "Authorization: Bearer ${TOKEN:0:63}" \
    --data-binary "@$T/up.json"
refused "upload, Basic scheme" POST /upload -H "Authorization: Basic $TOKEN" \
    --data-binary "@$T/up.json"
refused "uploadURL, no token" POST /uploadURL \
    --data '{"name":"echo","env":"binary","threads":1,"url":"http://127.0.0.1:1/x.zip"}'
refused "scale, no token" POST /scale --data '{"name":"echo","threads":2}'
refused "list, no token" GET /list
refused "logs, no token" GET /logs
refused "wipe, no token" POST /wipe
refused "delete, no token" POST /delete --data '{"name":"echo"}'
refused "invoke through the API, no token" POST /invoke/echo --data hi
check "refused calls made nothing" "c=0 n=0 i=0" "$(counts)"

# --- 3. the right token works; calls need none ----------------------------
deploy_ok echo 1 "$T/fn.zip"
raw GET /list -H "Authorization: bearer $TOKEN"
check "scheme name in any case" "200 echo" "$CODE $(cat "$T/body")"
refused "delete with a wrong token" POST /delete -H "Authorization: Bearer nope" \
    --data '{"name":"echo"}'
call echo --data-binary hello
check "invocation needs no token" "200 hello" "$CODE $(cat "$T/out")"
raw POST /invoke/echo -H "Authorization: Bearer $TOKEN" --data-binary hello
check "invoke through the API with the token" "200 hello" "$CODE $(cat "$T/body")"
# The dashboard's page holds no secret: served without a token; its calls carry one.
raw GET /
check "the dashboard's page needs no token" "200 text/html; charset=utf-8" \
    "$CODE $(tr -d '\r' < "$T/headers" | sed -n 's/^Content-Type: //Ip')"

# --- 4. a restart keeps the token and does not show it again ---------------
stop_daemon
IT_TOKEN_FROM_STATE=1 it_start_daemon
check "restart: same token file" "$TOKEN" "$(cat "$STATE/token")"
check "restart: token not shown again" 0 "$(grep -c -- "$TOKEN" "$LOG")"
export TINYFAAS_TOKEN=$TOKEN
mgmt GET /list
check "restart: token still works" 200 "$CODE"

# --- 5. TINYFAAS_TOKEN overrides the file ---------------------------------
stop_daemon
export TINYFAAS_TOKEN=operator-chosen-token
it_start_daemon
raw GET /list -H "Authorization: Bearer $TOKEN"
check "env token: the file's token refused" 401 "$CODE"
mgmt GET /list
check "env token: it works" 200 "$CODE"
check "env token: the file is left alone" "$TOKEN" "$(cat "$STATE/token")"

# --- 6. --no-auth ---------------------------------------------------------
stop_daemon
it_start_daemon --no-auth
raw GET /list
check "--no-auth: no token needed" 200 "$CODE"
check "--no-auth: a warning at start" 1 \
    "$(grep -c 'asks for no token (--no-auth): anyone who reaches TCP port' "$LOG")"

it_finish
