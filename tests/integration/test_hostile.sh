#!/usr/bin/env bash
# Hostile clients, each bounded in count and time, on loopback: what one
# client does must not cost another its calls nor the operator the
# management API, and the daemon's descriptors, CPU and log stay bounded.
#
#   test_hostile.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
it_start_daemon

mkfn "$T/fn" 'cat'
zipdir "$T/fn" "$T/fn.zip"
deploy_ok echo 1 "$T/fn.zip"

HOLD=(python3 "$SRC/tests/integration/hold_connections.py")
fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
log_lines() { wc -l < "$LOG"; }

# --- 1 100 half-sent requests held on the HTTP port ------------------------
# Their descriptors take the daemon past select()'s 1024: a server that
# still used select() would refuse the next connection it accepts.
N=1100
fds_before=$(fds) lines_before=$(log_lines)
coproc HOLDER { "${HOLD[@]}" "$PORT" "$N" 60; }
read -r -t 60 held <&"${HOLDER[0]}"
check "$N held: every connection accepted" "held $N" "$held"
check "$N held: the daemon holds them" yes \
    "$([ "$(fds)" -ge $((fds_before + N)) ] && echo yes || echo "$(fds) descriptors, $fds_before before")"
ticks0=$(cpu_ticks)
mgmt GET /list
check "$N held: the management API answers" 200 "$CODE"
call echo --data-binary 'another client'
check "$N held: another client's call answered" "200 another client" "$CODE $(cat "$T/out")"
sleep 2
# A server busy over held connections (spinning on accept, logging each)
# would spend most of those seconds' CPU; idle, it spends none.
ticks=$(($(cpu_ticks) - ticks0))
echo "# $N held: the daemon used $ticks ticks of CPU over the calls and 2 s"
check "$N held: the daemon's CPU stays low" yes \
    "$([ "$ticks" -lt "$(getconf CLK_TCK)" ] && echo yes || echo "$ticks ticks")"
exec {HOLDER[1]}>&-
read -r -t 60 closed <&"${HOLDER[0]}"
check "$N held: none closed by the daemon within its timeout" "closed by the server: 0" "$closed"
wait "$HOLDER_PID"
for _ in $(seq 100); do [ "$(fds)" -le "$fds_before" ] && break; sleep 0.1; done
check "$N held: their descriptors freed once they go" "$fds_before" "$(fds)"
# libmicrohttpd reports each connection that went with its request unfinished,
# at most 20 times a minute: that, and no line for each of the others.
lines=$(($(log_lines) - lines_before))
echo "# $N held: $lines log lines"
check "$N held: the log stays small" yes "$([ "$lines" -le 30 ] && echo yes || echo "$lines lines")"

it_finish
