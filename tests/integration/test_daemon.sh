#!/usr/bin/env bash
# End-to-end test of the tinyfaas daemon against the real Docker engine.
#
#   test_daemon.sh DAEMON SOURCE_ROOT
#
# Starts its own daemon on free ports with a temporary state directory,
# drives the management API, HTTP and CoAP, and checks exact bytes, status
# codes and Docker object counts. Every Docker object it looks at is filtered
# by the daemon's instance label, so other daemons on the machine are safe.
# Prints one line "N passed, M failed" at the end; exits 1 when M > 0.
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
it_start_daemon

check "instance id is 16 hex chars" yes "$([[ $IID =~ ^[0-9a-f]{16}$ ]] && echo yes || echo "$IID")"
check "fresh instance has no objects" "c=0 n=0 i=0" "$(counts)"

# --- 1. deploy echo -------------------------------------------------------

zipdir "$SRC/examples/echo/binary" "$T/echo.zip"
deploy_ok echo 2 "$T/echo.zip"
check "echo: running containers" 2 "$(n_running --filter label=tinyfaas.function=echo)"

# --- 2. echo over CoAP and HTTP ------------------------------------------

coap echo hello
printf 'hello' > "$T/exp"
check "coap echo hello: exit" 0 "$CRC"
check_file "coap echo hello: payload" "$T/exp" "$T/cout"
coap echo
check "coap echo empty: exit" 0 "$CRC"
check "coap echo empty: payload bytes" 0 "$(wc -c < "$T/cout")"
check "coap echo empty: no error shown" "" "$(cat "$T/cerr")"
call echo --data-binary hello
check "http echo hello: status" 200 "$CODE"
check_file "http echo hello: body" "$T/exp" "$T/out"
call echo -X POST --data-binary ''
check "http echo empty: status" 200 "$CODE"
check "http echo empty: body bytes" 0 "$(wc -c < "$T/out")"
head -c 100000 /dev/urandom > "$T/big"
call echo --data-binary "@$T/big"
check "http echo 100000 random bytes: status" 200 "$CODE"
check_file "http echo 100000 random bytes: body" "$T/big" "$T/out"
head -c 1048576 /dev/zero > "$T/limit"
call echo --data-binary "@$T/limit" -H 'Content-Type: application/octet-stream'
check "http echo of exactly the body limit: status" 200 "$CODE"
check "http echo of exactly the body limit: bytes" 1048576 "$(wc -c < "$T/out")"
head -c 1048577 /dev/zero > "$T/over"
call echo --data-binary "@$T/over" -H 'Content-Type: application/octet-stream'
check "http body over the limit: status" 413 "$CODE"
check "http body over the limit: reason" "request body too large" "$(cat "$T/out")"
# Request headers: up to 15 KB in all (the connection's 16 KB memory); more is a 431.
call echo --data-binary hello -H "X-Big: $(head -c 12288 /dev/zero | tr '\0' a)"
check "http 12 KB of headers: status" 200 "$CODE"
check_file "http 12 KB of headers: body" "$T/exp" "$T/out"
call echo --data-binary hello -H "X-Big: $(head -c 20480 /dev/zero | tr '\0' a)"
check "http 20 KB of headers: status" 431 "$CODE"
check "http 20 KB of headers: reason" 1 "$(grep -c 'header was too big' "$T/out")"

# --- 3. unknown function --------------------------------------------------

coap nosuchfn x
check "coap unknown: 4.04" "4.04" "$(cat "$T/cerr")"
check "coap unknown: no payload" 0 "$(wc -c < "$T/cout")"
call nosuchfn --data-binary x
check "http unknown: status" 404 "$CODE"

# --- 4. echo3 with three threads -----------------------------------------

deploy_ok echo3 3 "$T/echo.zip"
check "echo3: 3 running containers" 3 "$(n_running --filter label=tinyfaas.function=echo3)"
bad=0
for i in $(seq 30); do
    call echo3 --data-binary "msg-$i"
    [ "$CODE" == 200 ] && [ "$(cat "$T/out")" == "msg-$i" ] || { bad=$((bad + 1)); echo "# http msg-$i: $CODE $(head -c 80 "$T/out")"; }
done
check "echo3: 30 http calls return their payload" 0 "$bad"
bad=0
for i in $(seq 31 60); do
    coap echo3 "msg-$i"
    [ "$CRC" == 0 ] && [ "$(cat "$T/cout")" == "msg-$i" ] && [ ! -s "$T/cerr" ] || { bad=$((bad + 1)); echo "# coap msg-$i: $(head -c 80 "$T/cerr") $(head -c 80 "$T/cout")"; }
done
check "echo3: 30 coap calls return their payload" 0 "$bad"

# --- 5. list --------------------------------------------------------------

mgmt GET /list
check "list: status" 200 "$CODE"
check "list: plain" "$(printf 'echo\necho3\n' | od -c)" "$(od -c < "$T/body")"
mgmt GET /list -H 'Accept: application/json'
check "list json: status" 200 "$CODE"
check "list json: content" "echo binary 2;echo3 binary 3;" "$(python3 -c '
import json, sys
items = json.load(open(sys.argv[1]))
print("".join("%s %s %d;" % (i["name"], i["env"], i["threads"]) for i in sorted(items, key=lambda i: i["name"])))
' "$T/body" 2>&1)"

# --- 6. a failing function -----------------------------------------------

mkfn "$T/fail" 'echo "boom" >&2; exit 3'
zipdir "$T/fail" "$T/fail.zip"
deploy_ok fail 1 "$T/fail.zip"
call fail --data-binary x
check "http fail: status" 500 "$CODE"
check "http fail: body is its stderr" "$(printf 'boom\n' | od -c)" "$(od -c < "$T/out")"
coap fail x
# coap-client shows "5.00", a space and the payload, non-printables as '.'.
check "coap fail: 5.00 with the diagnostic" "5.00 boom." "$(cat "$T/cerr")"
check "coap fail: no 2.xx payload" 0 "$(wc -c < "$T/cout")"
call echo --data-binary still
check "echo after fail: status" 200 "$CODE"
check "echo after fail: body" still "$(cat "$T/out")"
coap echo still2
check "coap echo after fail" still2 "$(cat "$T/cout")"

# --- 7. request headers ---------------------------------------------------

mkfn "$T/hdr" 'printf "%s" "$HTTP_X_FOO"'
zipdir "$T/hdr" "$T/hdr.zip"
deploy_ok hdr 1 "$T/hdr.zip"
call hdr -H 'X-Foo: bar' --data-binary x
check "header X-Foo: status" 200 "$CODE"
check "header X-Foo: body" bar "$(cat "$T/out")"

# --- 8. asynchronous call -------------------------------------------------

# The async call runs until a later call (body "go") lets it end, so the 202
# provably comes first, however slow the machine (60 s at most).
mkfn "$T/async" 'read -r what
if [ "$what" = go ]; then touch /tmp/go; echo released; exit 0; fi
i=0; while [ ! -e /tmp/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
echo ran-async >&2'
zipdir "$T/async" "$T/async.zip"
deploy_ok async 1 "$T/async.zip"
call async -H 'X-tinyFaaS-Async: 1' --data-binary x
check "async: status" 202 "$CODE"
check "async: empty body" "" "$(cat "$T/out")"
mgmt GET '/logs?name=async'
check "async: answered while the function still runs" 0 "$(grep -c 'ran-async' "$T/body")"
call async --data-binary go
check "async: released" "200 released" "$CODE $(cat "$T/out")"
found=no
for _ in $(seq 300); do
    mgmt GET '/logs?name=async'
    if grep -q '^function=async handler=[^ ]* ran-async$' "$T/body"; then found=yes; break; fi
    sleep 0.2
done
check "async: then it ran to its end (ran-async in the logs)" yes "$found"
mgmt GET '/logs?name=async'
check "logs?name=async: only async lines" 0 "$(grep -vc '^function=async handler=' "$T/body")"
# since: only what was written from then on (what came before is left out).
mgmt GET "/logs?name=async&since=$(date +%s.%N | cut -c1-17)"
check "logs since now: status" 200 "$CODE"
check "logs since now: ran-async left out" 0 "$(grep -c 'ran-async' "$T/body")"
mgmt GET "/logs?name=async&since=$(($(date +%s) - 3600))"
check "logs since an hour ago: ran-async in" 1 "$(grep -c 'ran-async$' "$T/body")"
mgmt GET '/logs?name=async&since=yesterday'
check "logs since=yesterday: status" 400 "$CODE"
check "logs since=yesterday: reason" "since must be seconds since the epoch, like 1764180000.5" \
    "$(cat "$T/body")"

# --- 9. envs --------------------------------------------------------------

mkfn "$T/greet" 'printf "%s" "$GREETING"'
zipdir "$T/greet" "$T/greet.zip"
deploy_ok greet 1 "$T/greet.zip" '["GREETING=hi"]'
call greet --data-binary x
check "envs: status" 200 "$CODE"
check "envs: body" hi "$(cat "$T/out")"

# --- 10. redeploy echo ----------------------------------------------------

old_ids=$(docker ps -aq --no-trunc --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | sort)
mkfn "$T/echo2" 'printf v2'
zipdir "$T/echo2" "$T/echo2.zip"
deploy_ok echo 2 "$T/echo2.zip"
call echo --data-binary x
check "redeploy: http v2" v2 "$(cat "$T/out")"
coap echo x
check "redeploy: coap v2" v2 "$(cat "$T/cout")"
check "redeploy: echo containers == threads" 2 "$(n_containers --filter label=tinyfaas.function=echo)"
new_ids=$(docker ps -aq --no-trunc --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | sort)
check "redeploy: no old container remains" "" "$(comm -12 <(echo "$old_ids") <(echo "$new_ids") | grep . )"

# --- 11. bad input --------------------------------------------------------

before=$(counts)
# bad_upload LABEL FILE: POST FILE to /upload; expect 400, a one-line reason,
# and no change in our objects.
bad_upload() {
    mgmt POST /upload --data-binary "@$2"
    check "bad $1: status" 400 "$CODE"
    echo "# reason: $(head -c 200 "$T/body")"
    local nl last first
    nl=$(tr -cd '\n' < "$T/body" | wc -c)
    last=$(tail -c 1 "$T/body" | od -An -c | tr -d ' ')
    first=$(head -n 1 "$T/body")
    if [ -n "$first" ] && { [ "$nl" -eq 0 ] || { [ "$nl" -eq 1 ] && [ "$last" == '\n' ]; }; }; then
        check "bad $1: one-line non-empty reason" yes yes
    else
        check "bad $1: one-line non-empty reason" "one line" "$(od -c < "$T/body" | head -5)"
    fi
    check "bad $1: objects unchanged" "$before" "$(counts)"
}

printf '{"name":"x","env":' > "$T/b.json"
bad_upload "invalid json" "$T/b.json"
printf '{"name":"x","env":"binary","threads":1,"zip":"@@not base64!!"}' > "$T/b.json"
bad_upload "invalid base64" "$T/b.json"
printf '{"name":"x","env":"binary","threads":1,"zip":"%s"}' "$(printf 'this is not a zip file' | base64 -w0)" > "$T/b.json"
bad_upload "not a zip" "$T/b.json"
printf '{"name":"x","env":"cobol","threads":1,"zip":"%s"}' "$(base64 -w0 "$T/echo.zip")" > "$T/b.json"
bad_upload "env cobol" "$T/b.json"
for n in "" "-x" "a/b" "a b" "$(printf 'a%.0s' $(seq 64))"; do
    upload_body "$n" 1 "$T/echo.zip" > "$T/b.json"
    bad_upload "name '$n'" "$T/b.json"
done
for th in 0 65; do
    upload_body badthreads "$th" "$T/echo.zip" > "$T/b.json"
    bad_upload "threads $th" "$T/b.json"
done
python3 - "$T/evil.zip" "$T/link.zip" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    i = zipfile.ZipInfo("fn.sh"); i.external_attr = 0o100755 << 16
    z.writestr(i, "#!/bin/sh\ncat\n")
    z.writestr("../evil", "evil\n")
with zipfile.ZipFile(sys.argv[2], "w") as z:
    i = zipfile.ZipInfo("fn.sh"); i.external_attr = 0o100755 << 16
    z.writestr(i, "#!/bin/sh\ncat\n")
    i = zipfile.ZipInfo("link"); i.external_attr = 0o120777 << 16
    z.writestr(i, "/etc/passwd")
EOF
mkdir -p "$T/nofn" && echo 'echo hi' > "$T/nofn/run.sh" && zipdir "$T/nofn" "$T/nofn.zip"
upload_body nofn 1 "$T/nofn.zip" > "$T/b.json"
bad_upload "zip without fn.sh" "$T/b.json"
check "zip without fn.sh: reason" "the binary runtime needs fn.sh at the top of the function folder" "$(cat "$T/body")"
upload_body zipslip 1 "$T/evil.zip" > "$T/b.json"
bad_upload "zip with ../evil" "$T/b.json"
upload_body zlink 1 "$T/link.zip" > "$T/b.json"
bad_upload "zip with a symlink" "$T/b.json"
# Bad uploads for the existing name echo keep the running version.
upload_body echo 0 "$T/echo.zip" > "$T/b.json"
bad_upload "echo threads 0" "$T/b.json"
upload_body echo 1 "$T/evil.zip" > "$T/b.json"
bad_upload "echo zip with ../evil" "$T/b.json"
upload_body echo 1 "$T/link.zip" > "$T/b.json"
bad_upload "echo zip with a symlink" "$T/b.json"
call echo --data-binary x
check "echo after bad uploads: status" 200 "$CODE"
check "echo after bad uploads: still v2" v2 "$(cat "$T/out")"
check "echo after bad uploads: same containers" "$new_ids" \
    "$(docker ps -q --no-trunc --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | sort)"
check "no evil file outside" no "$([ -e "$STATE/evil" ] || [ -e "$T/evil" ] && echo yes || echo no)"

# --- 12. delete -----------------------------------------------------------

printf '{"name":"echo3"}' > "$T/d.json"
mgmt POST /delete --data-binary "@$T/d.json"
check "delete echo3: status" 200 "$CODE"
call echo3 --data-binary x
check "deleted echo3: http 404" 404 "$CODE"
coap echo3 x
check "deleted echo3: coap 4.04" "4.04" "$(cat "$T/cerr")"
check "deleted echo3: no objects" "c=0 n=0 i=0" "$(fn_counts echo3)"
printf '{"name":"nosuchfn"}' > "$T/d.json"
mgmt POST /delete --data-binary "@$T/d.json"
check "delete unknown: status" 404 "$CODE"
call echo --data-binary x
check "echo after delete of echo3" v2 "$(cat "$T/out")"

# --- 12b. more functions than Docker's default address pools hold ---------

# Each function has a network of its own: a /25 of the daemon's subnet pool,
# so a gateway is not stopped at Docker's ~31 default networks.
many_ok=0
for i in $(seq 1 36); do
    deploy "many$i" 1 "$T/echo.zip"
    [ "$CODE" = 200 ] || { echo "# many$i: $CODE $(cat "$T/body")"; break; }
    call "many$i" --data-binary "m$i"
    [ "$CODE" = 200 ] && [ "$(cat "$T/out")" = "m$i" ] && many_ok=$((many_ok + 1))
done
check "36 functions deployed and answering" 36 "$many_ok"
net=$(docker network ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=many36)
check "a function network is a /25 of the pool" yes \
    "$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' $net | grep -qE '^10\.201\.[0-9]+\.(0|128)/25$' && echo yes || echo no)"

# --- 13. wipe -------------------------------------------------------------

mgmt POST /wipe
check "wipe: status" 200 "$CODE"
mgmt GET /list
check "wipe: list status" 200 "$CODE"
check "wipe: list empty" 0 "$(wc -c < "$T/body")"
check "wipe: no objects of ours" "c=0 n=0 i=0" "$(counts)"
call echo --data-binary x
check "wipe: echo gone" 404 "$CODE"

# --- 14. SIGTERM ----------------------------------------------------------

deploy_ok echo 1 "$T/echo.zip"
call echo --data-binary again
check "echo before SIGTERM" again "$(cat "$T/out")"
kill -TERM "$DAEMON_PID"
exited=no
for _ in $(seq 300); do
    kill -0 "$DAEMON_PID" 2>/dev/null || { exited=yes; break; }
    sleep 0.2
done
check "SIGTERM: exits" yes "$exited"
if [ "$exited" == yes ]; then
    wait "$DAEMON_PID"
    check "SIGTERM: exit status" 0 "$?"
    DAEMON_PID=
fi
check "SIGTERM: no container left; the kept function's network and image stay" "c=0 n=1 i=1" \
    "$(counts)"

# --- 15. --purge: everything the instance made goes ----------------------------
"$DAEMON" --purge --state-dir "$STATE" > "$T/purge.log" 2>&1
check "--purge: exit status" 0 "$?"
check "--purge: no object of ours left" "c=0 n=0 i=0" "$(counts)"
check "--purge: the state dir is gone" no "$([ -e "$STATE" ] && echo "yes: $(ls -A "$STATE")" || echo no)"
"$DAEMON" --purge --state-dir "$STATE" > "$T/purge.log" 2>&1
check "--purge again: nothing to purge" "0 no instance in $STATE: nothing to purge" \
    "$? $(grep -o 'no instance in .*' "$T/purge.log")"

it_finish
