#!/usr/bin/env bash
# tinyFaaS's management scripts (scripts/*.sh), with their arguments, against
# a real daemon: each does its job, sends the token, and fails with the
# daemon's reason.
#
#   test_scripts.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
it_start_daemon
export MGMT_PORT=$MPORT TINYFAAS_HOST=127.0.0.1
S=$SRC/scripts
cd "$T"

# run SCRIPT ARGS...: sets RC; stdout in $T/sout, stderr in $T/serr.
run() {
    local script=$1
    shift
    timeout 120 "$S/$script" "$@" > "$T/sout" 2> "$T/serr"
    RC=$?
}

# --- upload.sh, with envs -------------------------------------------------
mkfn "$T/fn" 'printf "%s:" "$GREETING"; cat'
run upload.sh "$T/fn" greet binary 1 "GREETING=hi there"
check "upload.sh: exit status" 0 "$RC"
check "upload.sh: the URLs" "$(expected_urls greet)" "$(cat "$T/sout")"
call greet --data-binary abc
check "upload.sh: deployed with its envs" "200 hi there:abc" "$CODE $(cat "$T/out")"

# --- uploadURL.sh: a zip from a web server, one folder of it --------------
mkdir -p "$T/www/src/pkg/fn"
mkfn "$T/www/src/pkg/fn" 'printf "url:"; cat'
(cd "$T/www/src" && zip -qr ../fn.zip pkg)
WPORT=$(pick_port "$PORT")
python3 -m http.server "$WPORT" --bind 127.0.0.1 --directory "$T/www" > /dev/null 2>&1 &
WEB_PID=$!
for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$WPORT/fn.zip" && break; sleep 0.1; done
run uploadURL.sh "http://127.0.0.1:$WPORT/fn.zip" pkg/fn fromurl binary 1
check "uploadURL.sh: exit status" 0 "$RC"
check "uploadURL.sh: the URLs" "$(expected_urls fromurl)" "$(cat "$T/sout")"
call fromurl --data-binary x
check "uploadURL.sh: deployed" "200 url:x" "$CODE $(cat "$T/out")"
run uploadURL.sh "ftp://127.0.0.1/fn.zip" pkg/fn other binary 1
check "uploadURL.sh, ftp: fails" 22 "$RC"
check "uploadURL.sh, ftp: the reason" "url must start with http:// or https://" "$(cat "$T/sout")"
kill "$WEB_PID"
wait "$WEB_PID" 2> /dev/null

# --- list.sh, logs.sh -----------------------------------------------------
run list.sh
check "list.sh" "$(printf 'fromurl\ngreet')" "$(sort "$T/sout")"
mkfn "$T/noisy" 'echo "to stderr" >&2; cat'
run upload.sh "$T/noisy" noisy binary 1
call noisy --data-binary y
run logs.sh noisy
check "logs.sh NAME: exit status" 0 "$RC"
check "logs.sh NAME: the handler's line" 1 "$(grep -c '^function=noisy handler=.* to stderr$' "$T/sout")"
run logs.sh
check "logs.sh: every function's" "noisy" "$(grep -o '^function=[a-z]* [^ ]* to stderr$' "$T/sout" | cut -d' ' -f1 | cut -d= -f2)"

# --- delete.sh; tinyFaaS's bare-name body too -----------------------------
run delete.sh greet
check "delete.sh: exit status" 0 "$RC"
call greet --data-binary abc
check "delete.sh: gone" 404 "$CODE"
run delete.sh greet
check "delete.sh, unknown: fails" 22 "$RC"
check "delete.sh, unknown: the reason" "no function named 'greet'" "$(cat "$T/sout")"
mgmt POST /delete --data noisy
check "/delete with a bare name (tinyFaaS's delete.sh)" 200 "$CODE"
check "bare-name delete: gone" "c=0 n=0 i=0" "$(fn_counts noisy)"

# --- wipe-functions.sh ----------------------------------------------------
run wipe-functions.sh
check "wipe-functions.sh: exit status" 0 "$RC"
run list.sh
check "wipe-functions.sh: nothing listed" "" "$(cat "$T/sout")"
check "wipe-functions.sh: no objects left" "c=0 n=0 i=0" "$(counts)"

# --- no token, or a wrong one: the daemon's reason ------------------------
TINYFAAS_TOKEN=wrong run list.sh
check "wrong token: fails" 22 "$RC"
check "wrong token: the reason" \
    "missing or wrong management token: send 'Authorization: Bearer TOKEN' (TINYFAAS_TOKEN)" \
    "$(cat "$T/sout")"
(unset TINYFAAS_TOKEN && run list.sh && echo "$RC" > "$T/rc")
check "no token: fails" 22 "$(cat "$T/rc")"

it_finish
