#!/bin/bash
# Sets up tinyFaaS on Debian 12, runs it in the foreground, and deploys the
# echo example. Ctrl-C stops it and removes every container it made.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(tf_root)
tf_setup

MGMT_PORT=${MGMT_PORT:-8080}
"$ROOT/build/tinyfaas" "$@" &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON' INT TERM

# Up once the management API answers at all (401 without the token counts).
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MGMT_PORT/list")" != 000 ] && break
    kill -0 $DAEMON 2>/dev/null || { wait $DAEMON; exit 1; }
    sleep 0.1
done
tf_say "deploying examples/echo/binary as 'echo'"
# upload.sh finds the token the daemon made in ./tinyfaas-state/token.
"$ROOT/scripts/upload.sh" "$ROOT/examples/echo/binary" echo binary 1
tf_say "try:  coap-client-openssl -m post -e hello coap://127.0.0.1/echo"
tf_say "      curl -d hello http://127.0.0.1:5683/echo"
tf_say "manage: scripts/list.sh, logs.sh, upload.sh, delete.sh (they read the token in tinyfaas-state/token)"
tf_say "dashboard: http://127.0.0.1:$MGMT_PORT/ (the same token)"
tf_say "Ctrl-C stops tinyfaas"
wait $DAEMON
