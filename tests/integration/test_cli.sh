#!/usr/bin/env bash
# tinyfaas-cli against a real daemon: every command does its job, prints
# what the daemon answered (exact bytes for invocations, over HTTP and CoAP),
# and fails with exit status 1 and the daemon's reason, or 2 on bad usage.
#
#   test_cli.sh DAEMON SOURCE_ROOT CLI
set -u

source "$(dirname "$0")/lib.sh"
CLI=$(readlink -f "${3:?usage: $0 DAEMON SOURCE_ROOT CLI}")
it_init "$@"
it_start_daemon
export TINYFAAS_URL=http://127.0.0.1:$MPORT TINYFAAS_HTTP_PORT=$PORT TINYFAAS_COAP_PORT=$PORT
cd "$T"

# cli ARGS...: sets RC; stdout in $T/sout, stderr in $T/serr.
cli() {
    require_daemon
    timeout 120 "$CLI" "$@" > "$T/sout" 2> "$T/serr"
    RC=$?
}

# check_fails NAME STDERR CLI ARGS...: exit status 1 and exactly that line on stderr.
check_fails() {
    local name=$1 reason=$2
    shift 2
    cli "$@"
    check "$name: exit status" 1 "$RC"
    check "$name: the reason" "$reason" "$(cat "$T/serr")"
}

# threads_of NAME: the function's threads in `list --json`.
threads_of() {
    "$CLI" list --json | python3 -c '
import json, sys
print(*[f["threads"] for f in json.load(sys.stdin) if f["name"] == sys.argv[1]])' "$1"
}

# --- usage ----------------------------------------------------------------
cli --help
check "--help: exit status" 0 "$RC"
check "--help: usage on stdout" "usage: tinyfaas-cli COMMAND [ARGS]" "$(head -1 "$T/sout")"
cli invoke echo --help
check "COMMAND --help: exit status" 0 "$RC"
for args in "" "nosuch" "deploy" "deploy $T --name x" "list extra" "list --follow" \
    "scale echo many" "invoke" "invoke echo --http --coap" "deploy $T --name x --env c --threads two"; do
    cli $args
    check "usage error '$args': exit status" 2 "$RC"
    check "usage error '$args': usage on stderr, nothing on stdout" \
        "1 0" "$(grep -c '^usage: tinyfaas-cli' "$T/serr") $(wc -c < "$T/sout")"
done

# --- deploy ---------------------------------------------------------------
mkfn "$T/echo" 'cat'
cli deploy "$T/echo" --name echo --env binary --memory-mb 64 --cpus 0.5 --timeout-s 7
check "deploy echo: exit status" 0 "$RC"
check "deploy echo: the URLs, exactly" "$(expected_urls echo | od -c)" "$(od -c < "$T/sout")"
check "deploy echo: no progress when stderr is no terminal" "" "$(cat "$T/serr")"
check "deploy echo: --memory-mb and --cpus reach the container" "67108864 500000000" \
    "$(docker inspect -f '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}' \
        $(docker ps -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo))"
mgmt GET /list -H 'Accept: application/json'
check "deploy echo: --timeout-s reaches the daemon" 7 \
    "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["timeout_s"])' "$T/body")"

# A folder given with a trailing slash, a file in a subfolder, an env var;
# and on a terminal (script(1)), the progress line.
mkfn "$T/greet" 'who=$(cat)
[ -n "$who" ] || { echo "nobody to greet" >&2; exit 3; }
[ "$who" != slow ] || sleep 2
echo "greet: called for $who" >&2
printf "%s, %s%s" "$GREETING" "$who" "$(cat data/mark)"'
mkdir -p "$T/greet/data"
printf '!' > "$T/greet/data/mark"
script -qec "'$CLI' deploy '$T/greet/' --name greet --env binary --env-var GREETING=hi" \
    /dev/null > "$T/tty" < /dev/null
check "deploy greet on a terminal: exit status" 0 "$?"
check "deploy greet on a terminal: the progress line" 1 \
    "$(tr '\r' '\n' < "$T/tty" | grep -c '^deploying greet: 0 s$')"
check "deploy greet on a terminal: the URLs, after the line is cleared" 2 \
    "$(tr '\r' '\n' < "$T/tty" | grep -cxF "$(expected_urls greet)")"

# --- list -----------------------------------------------------------------
cli list
check "list: exit status" 0 "$RC"
check "list: the names" "$(printf 'echo\ngreet')" "$(sort "$T/sout")"
cli list --json
check "list --json: exit status" 0 "$RC"
check "list --json: echo's threads" 1 "$(threads_of echo)"

# --- invoke, HTTP and CoAP ------------------------------------------------
printf 'hello' > "$T/hello"
for transport in --http --coap; do
    cli invoke echo $transport -d hello
    check "invoke $transport: exit status" 0 "$RC"
    check_file "invoke $transport: the exact bytes" "$T/hello" "$T/sout"
    cli invoke echo $transport
    check "invoke $transport, no body: empty answer" "0 0" "$RC $(wc -c < "$T/sout")"
done
cli invoke echo -d hello
check_file "invoke, HTTP by default" "$T/hello" "$T/sout"

# 3000 bytes, NULs and all: over CoAP, block-wise both ways (RFC 7959).
head -c 3000 /dev/urandom > "$T/blob"
for transport in --coap --http; do
    cli invoke echo $transport -d "@$T/blob"
    check "invoke $transport -d @FILE (3000 bytes): exit status" 0 "$RC"
    check_file "invoke $transport -d @FILE (3000 bytes): the exact bytes" "$T/blob" "$T/sout"
done
check_fails "invoke -d @missing" "tinyfaas-cli: $T/missing: No such file or directory" \
    invoke echo -d "@$T/missing"

cli invoke greet --coap -d world
check "invoke greet: env var and subfolder file" "0 hi, world!" "$RC $(cat "$T/sout")"
# Past one second the answer comes as a separate response (RFC 7252 5.2.2).
cli invoke greet --coap -d slow
check "invoke --coap, a slow function: the separate response" "0 hi, slow!" "$RC $(cat "$T/sout")"
for transport in --http --coap; do
    cli invoke echo $transport --async -d hello
    check "invoke $transport --async: exit status" 0 "$RC"
done
check_fails "invoke unknown, HTTP" "tinyfaas-cli: 404: no such function" invoke nosuch
check_fails "invoke unknown, CoAP" "tinyfaas-cli: 4.04: Not Found" invoke nosuch --coap
check_fails "invoke failing, HTTP" "tinyfaas-cli: 500: nobody to greet" invoke greet
check_fails "invoke failing, CoAP" "tinyfaas-cli: 5.00: nobody to greet" invoke greet --coap

# --- the token -------------------------------------------------------------
NO_TOKEN="tinyfaas-cli: 401: missing or wrong management token: send 'Authorization: Bearer TOKEN' (TINYFAAS_TOKEN)"
TINYFAAS_TOKEN=wrong check_fails "list, wrong token" "$NO_TOKEN" list
TOKEN=$TINYFAAS_TOKEN
unset TINYFAAS_TOKEN
check_fails "list, no token" "$NO_TOKEN" list
# Unset, the token comes from a daemon's state dir, as for the scripts.
mkdir -p "$T/kept"
echo "$TOKEN" > "$T/kept/token"
TINYFAAS_STATE_DIR=$T/kept cli list
check "list, the state dir's token" "0 echo greet" "$RC $(tr '\n' ' ' < "$T/sout" | sed 's/ $//')"
export TINYFAAS_TOKEN=$TOKEN

# --- logs -----------------------------------------------------------------
cli logs greet
check "logs greet: exit status" 0 "$RC"
check "logs greet: the function's stderr line" 1 \
    "$(grep -c '^function=greet handler=[^ ]* greet: called for world$' "$T/sout")"
cli logs
check "logs: every function's" 1 "$(grep -c '^function=greet handler=[^ ]* greet: called for world$' "$T/sout")"
check_fails "logs unknown" "tinyfaas-cli: 404: no function named 'nosuch'" logs nosuch

# Followed: a call made after the follow started shows up; SIGINT ends it
# with status 0; each poll asks only for lines since the previous one.
# in_follow TEXT: waits until the followed output holds the line of the call
# for TEXT (60 s at most); prints yes or no.
in_follow() {
    for _ in $(seq 300); do
        grep -q "^function=greet handler=[^ ]* greet: called for $1\$" "$T/follow" && { echo yes; return; }
        sleep 0.2
    done
    echo no
}
timeout --preserve-status -s INT 120 "$CLI" logs greet --follow > "$T/follow" 2> "$T/ferr" &
FOLLOW=$!
check "logs --follow: the lines so far" yes "$(in_follow world)"
cli invoke greet -d later
check "logs --follow: then the later call's" yes "$(in_follow later)"
kill -INT "$FOLLOW"
wait "$FOLLOW"
check "logs --follow: exit status after SIGINT" 0 "$?"
check "logs --follow: nothing on stderr" "" "$(cat "$T/ferr")"
check "logs --follow: the later call's line" 1 \
    "$(grep -c '^function=greet handler=[^ ]* greet: called for later$' "$T/follow")"
check "logs --follow: the earlier line, once (since=)" 1 \
    "$(grep -c '^function=greet handler=[^ ]* greet: called for world$' "$T/follow")"

# --- deploy errors: the daemon's reason, nothing made -----------------------
cli deploy "$T/echo" --name bad --env nosuch
check "deploy --env nosuch: exit status" 1 "$RC"
check "deploy --env nosuch: the daemon's reason" 1 \
    "$(grep -c "^tinyfaas-cli: 400: unknown env 'nosuch' (known: .*)$" "$T/serr")"
check "deploy --env nosuch: nothing made" "c=0 n=0 i=0" "$(fn_counts bad)"
check_fails "deploy, threads out of range" "tinyfaas-cli: 400: threads must be between 1 and 64, not 0" \
    deploy "$T/echo" --name bad --env binary --threads 0
check_fails "deploy, no such folder" "tinyfaas-cli: $T/nosuch: No such file or directory" \
    deploy "$T/nosuch" --name bad --env binary

# --- delete -----------------------------------------------------------------
cli delete greet
check "delete: exit status" 0 "$RC"
check_fails "delete, then invoke" "tinyfaas-cli: 404: no such function" invoke greet
check "delete: no objects left" "c=0 n=0 i=0" "$(fn_counts greet)"
check_fails "delete unknown" "tinyfaas-cli: 404: no function named 'greet'" delete greet

# --- scale --------------------------------------------------------------------
cli scale echo 3
check "scale echo 3: exit status" 0 "$RC"
check "scale echo 3: nothing on stderr" "" "$(cat "$T/serr")"
check "scale echo 3: the daemon's answer, the URLs" "$(expected_urls echo | od -c)" "$(od -c < "$T/sout")"
check "scale echo 3: list --json" 3 "$(threads_of echo)"
check "scale echo 3: handler containers running" 3 \
    "$(n_running --filter label=tinyfaas.function=echo)"
cli invoke echo --coap -d hello
check_file "scale echo 3: still answers" "$T/hello" "$T/sout"

# --- wipe -------------------------------------------------------------------
cli wipe
check "wipe: exit status" 0 "$RC"
cli list
check "wipe: nothing listed" "0 " "$RC $(cat "$T/sout")"
check "wipe: no objects left" "c=0 n=0 i=0" "$(counts)"

# --- nobody there -------------------------------------------------------------
DEAD=$(pick_port "$PORT")
TINYFAAS_URL=http://127.0.0.1:$DEAD cli list
check "list, no daemon: exit status" 1 "$RC"
check "list, no daemon: libcurl's reason" 1 \
    "$(grep -c "^tinyfaas-cli: Failed to connect to 127.0.0.1 port $DEAD" "$T/serr")"
TINYFAAS_COAP_PORT=$DEAD check_fails "invoke --coap, nobody on the port" \
    "tinyfaas-cli: host or port unreachable (ICMP)" invoke echo --coap

it_finish
