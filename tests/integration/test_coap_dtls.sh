#!/usr/bin/env bash
# CoAP over DTLS with pre-shared keys, plain CoAP turned off: only devices
# with a right identity and key reach a function.
#
#   test_coap_dtls.sh DAEMON SOURCE_ROOT
set -u
source "$(dirname "$0")/lib.sh"
it_init "$@"

DTLS_PORT=$(pick_port) || { echo "no free port"; exit 1; }
printf '# devices\ndev1 secret1\ndev2 hex:736563726574320a\n' > "$T/keys"
it_start_daemon --coap-port -1 --coaps-port "$DTLS_PORT" --psk-file "$T/keys"
check "log: DTLS endpoint up" yes \
    "$(grep -q "DTLS-PSK on UDP port $DTLS_PORT for 2 devices" "$LOG" && echo yes || echo no)"

zipdir "$SRC/examples/echo/binary" "$T/echo.zip"
deploy echo 1 "$T/echo.zip"
check "deploy: status" 200 "$CODE"
check "deploy: coaps and http URLs" \
    "$(printf 'coaps://127.0.0.1:%s/echo\nhttp://127.0.0.1:%s/echo' "$DTLS_PORT" "$PORT")" \
    "$(cat "$T/body")"

# coaps IDENTITY KEY PAYLOAD [WAIT]: payload in $T/sout, coap-client's stderr
# in $T/serr. It waits WAIT s for the answer: long where one is due, 4 s
# (the default) where none is.
coaps() {
    rm -f "$T/sout"
    timeout 90 coap-client-openssl -B "${4:-4}" -m post -u "$1" -k "$2" -e "$3" -o "$T/sout" \
        "coaps://127.0.0.1:$DTLS_PORT/echo" > /dev/null 2> "$T/serr"
    [ -e "$T/sout" ] || : > "$T/sout"
}

coaps dev1 secret1 hello 60
check "right key: the answer" hello "$(cat "$T/sout")"
coaps dev1 wrong hello
check "wrong key: no answer" "" "$(cat "$T/sout")"
coaps mallory secret1 hello
check "unknown identity: no answer" "" "$(cat "$T/sout")"
check "unknown identity: logged" yes \
    "$(grep -q 'unknown PSK identity "mallory"' "$LOG" && echo yes || echo no)"
coaps dev1 secret1 "again" 60
check "right key after wrong ones: the answer" again "$(cat "$T/sout")"

# Plain CoAP is off: neither the usual port nor the DTLS port answers it.
rm -f "$T/cout"
timeout 10 coap-client-openssl -B 2 -m post -e hello -o "$T/cout" \
    "coap://127.0.0.1:$DTLS_PORT/echo" > /dev/null 2>&1
check "plain CoAP to the DTLS port: no answer" no "$([ -s "$T/cout" ] && echo yes || echo no)"
timeout 10 coap-client-openssl -B 2 -m post -e hello -o "$T/cout" \
    "coap://127.0.0.1:$PORT/echo" > /dev/null 2>&1
check "plain CoAP port off: no answer" no "$([ -s "$T/cout" ] && echo yes || echo no)"

it_finish
