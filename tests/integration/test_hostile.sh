#!/usr/bin/env bash
# Hostile clients, each bounded in count and time, on loopback: what one
# client does must not cost another its calls nor the operator the
# management API, and the daemon's descriptors, CPU and log stay bounded.
# Loopback's other addresses (127.0.0.2, ...) stand for other clients.
#
#   test_hostile.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
# Under AddressSanitizer freed memory waits in a quarantine of 256 MB, which
# would hide what the daemon itself keeps: a small one keeps the memory
# bounds below meaningful in that build too (other builds ignore this).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8
it_start_daemon

mkfn "$T/fn" 'cat'
zipdir "$T/fn" "$T/fn.zip"
deploy_ok echo 1 "$T/fn.zip"

fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
log_lines() { wc -l < "$LOG"; }
under() { [ "$2" -le "$3" ] && echo yes || echo "$1 $2"; }

# hold PORT COUNT SECONDS [SOURCES [TRICKLE]]: hold_connections.py as a
# coprocess; HELD is its first line.
hold() {
    coproc HOLDER { python3 "$SRC/tests/integration/hold_connections.py" "$@"; }
    read -r -t 60 HELD <&"${HOLDER[0]}"
}
# let_go [now]: waits out the holder's SECONDS (with now: closes its stdin,
# so it lets go at once) and sets CLOSED, its last line.
let_go() {
    local out=${HOLDER[0]} in=${HOLDER[1]} pid=$HOLDER_PID
    [ "${1:-}" = now ] && exec {in}>&-
    read -r -t 60 CLOSED <&"$out"
    wait "$pid"
}
# settled NAME BEFORE: the descriptors the daemon had BEFORE are all it has again.
settled() {
    for _ in $(seq 100); do [ "$(fds)" -le "$2" ] && break; sleep 0.1; done
    check "$1: descriptors freed" "$2" "$(fds)"
}

# ran NAME N: how many times NAME's log says it ran, once N have shown
# (60 s at most; the log arrives through the engine) and 2 s more, in which
# one more would have shown.
ran() {
    local n
    for _ in $(seq 300); do
        mgmt GET "/logs?name=$1"
        n=$(grep -c "^function=$1 handler=[^ ]* invoked\$" "$T/body")
        [ "$n" -ge "$2" ] && break
        sleep 0.2
    done
    sleep 2
    mgmt GET "/logs?name=$1"
    grep -c "^function=$1 handler=[^ ]* invoked\$" "$T/body"
}

# The clients' descriptors come from this machine's hard open-file limit,
# which the daemon and the holder each raise their soft limit to.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
MANY=$((hard - 300 < 3000 ? hard - 300 : 3000))

# --- one client, 3 000 half-sent requests, a header byte a second ----------
# At most 256 held from one address (the rest closed at once), each closed
# 10 s after it could have sent its headers, however it trickles.
fds0=$(fds) lines0=$(log_lines) rss0=$(rss_kb)
hold "$PORT" "$MANY" 16 1 1
check "$MANY from one address: 256 held" "held 256" "$HELD"
ticks0=$(cpu_ticks)
call echo --interface 127.0.0.2 --data-binary 'another client'
check "$MANY from one address: another client's call answered" "200 another client" \
    "$CODE $(cat "$T/out")"
mgmt GET /list
check "$MANY from one address: the management API answers" 200 "$CODE"
sleep 2
# A server busy over them (spinning on accept, logging each) would spend
# most of these seconds' CPU; idle, it spends none.
ticks=$(($(cpu_ticks) - ticks0))
echo "# $MANY from one address: $ticks ticks of the daemon's CPU over the calls and 2 s"
check "$MANY from one address: the daemon's CPU stays low" yes \
    "$(under ticks "$ticks" $(($(getconf CLK_TCK) / 2)))"
let_go
check "$MANY from one address: every one closed by the header deadline" \
    "closed by the server: all" "$CLOSED"
settled "$MANY from one address" "$fds0"
# What they cost stays bounded: at most 256 connections' 16 KB pools, which
# the allocator keeps for the next ones (4.3 MB seen; under AddressSanitizer
# freed memory waits in its quarantine instead).
rss=$(($(rss_kb) - rss0))
echo "# $MANY from one address: RSS $rss kB more than before"
check "$MANY from one address: memory bounded" yes "$(under "kB more:" "$rss" 8192)"
# 20 lines a minute of libmicrohttpd's, 20 of the deadline's, and a count.
lines=$(($(log_lines) - lines0))
echo "# $MANY from one address: $lines log lines"
check "$MANY from one address: the log stays small" yes "$(under lines "$lines" 45)"

# --- 1 100 held from five addresses ----------------------------------------
# Their descriptors take the daemon past select()'s 1024: a server that
# still used select() would refuse the next connection it accepts.
if [ "$hard" -lt 2400 ]; then
    echo "# 1100 from five addresses: not run, the hard open-file limit is $hard"
else
    fds0=$(fds)
    hold "$PORT" 1100 30 5
    check "1100 from five addresses: all held" "held 1100" "$HELD"
    mgmt GET /list
    check "1100 from five addresses: the management API answers" 200 "$CODE"
    call echo --interface 127.0.0.6 --data-binary 'a sixth client'
    check "1100 from five addresses: another client's call answered" "200 a sixth client" \
        "$CODE $(cat "$T/out")"
    let_go now
    settled "1100 from five addresses" "$fds0"
fi

# --- the management API: idle connections without a token -----------------
fds0=$(fds)
hold "$MPORT" 64 16 1
check "64 idle on the management port from one address: 16 held" "held 16" "$HELD"
mgmt GET /list --interface 127.0.0.2
check "64 idle on the management port: the operator's /list answers" 200 "$CODE"
let_go
check "64 idle on the management port: every one closed by the header deadline" \
    "closed by the server: all" "$CLOSED"
settled "64 idle on the management port" "$fds0"

# --- CoAP block-wise: first blocks claiming 4 GB -------------------------
# Each is refused at once with the limit in Size1 (RFC 7959 2.9.3), before
# anything is reserved for it.
rss0=$(rss_kb) log0=$(log_lines)
timeout 120 python3 "$SRC/tests/integration/coap_raw.py" first-blocks "$PORT" echo 30000 50 4294967295 > "$T/fb"
cat "$T/fb"
check "30 000 first blocks claiming 4 GB from 50 sockets: 4.13 only" "answers_4.13" \
    "$(grep '^answers_' "$T/fb" | sed 's/=.*//' | paste -sd' ')"
check "30 000 first blocks claiming 4 GB: 4.13 gives the limit in Size1" "size1=1048576" \
    "$(grep '^size1=' "$T/fb")"
echo "# 30 000 first blocks claiming 4 GB: RSS $(($(rss_kb) - rss0)) kB more than before"
check "30 000 first blocks claiming 4 GB: RSS grew by at most 32 MB" yes \
    "$(under "RSS grew by (kB)" $(($(rss_kb) - rss0)) 32768)"
check "30 000 first blocks claiming 4 GB: at most 20 log lines" yes \
    "$(under "log lines" $(($(log_lines) - log0)) 20)"
coap echo 'after the first blocks'
check "a call right after the first blocks" "0 after the first blocks" "$CRC $(cat "$T/cout")"

# --- CoAP block-wise: uploads begun and never finished ----------------------
# 200 from 50 sockets, four each in turn: an endpoint holds 2 (its third
# replaces its oldest) and all of them 64, the rest get 5.03: 50 + 14 held
# in the first two rounds, 14 more in each of the next two (replacing).
timeout 60 python3 "$SRC/tests/integration/coap_raw.py" first-blocks "$PORT" echo 200 50 0 > "$T/fb"
check "200 unfinished uploads from 50 sockets: 92 taken, 108 refused" \
    "answers_2.31=92 answers_5.03=108" "$(grep '^answers_' "$T/fb" | paste -sd' ')"
sleep 16
timeout 60 python3 "$SRC/tests/integration/coap_raw.py" first-blocks "$PORT" echo 64 64 0 > "$T/fb"
check "16 s later the abandoned uploads are gone: 64 new ones taken" "answers_2.31=64" \
    "$(grep '^answers_' "$T/fb" | paste -sd' ')"

# --- CoAP: 300 NON calls, each answered with 1 MB, never fetched further ---
# From 300 sockets. Each answer goes block-wise, and no client asks for a
# block past the first, so libcoap holds each for its 93 s. The answers it
# holds and those kept to repeat to duplicates stay within
# --coap-answer-bytes (8 MiB): past that, 5.03 at once. The first call's
# kept answer is the first evicted; sent again, it is not run again.
mkfn "$T/big" 'echo invoked >&2; head -c 1048576 /dev/zero'
zipdir "$T/big" "$T/big.zip"
deploy_ok big 1 "$T/big.zip"

# --- CoAP: no amplifier for a spoofed address (RFC 9175 2.4) ---------------
# A 12-byte NON request from an address never seen: the first answer is a
# block small enough to stay within three times the request, with an Echo
# value to verify the address by; nothing else comes.
python3 "$SRC/tests/integration/coap_raw.py" amplify "$PORT" big 127.0.0.9 > "$T/amp"
cat "$T/amp"
check "a 12-byte NON request from a new address: one answer, a first block with Echo" \
    "request_bytes=12 datagrams=1 code=2.05 echo_option=True" \
    "$(grep -v '^largest=' "$T/amp" | paste -sd' ')"
check "a 12-byte NON request from a new address: the answer at most 36 bytes" yes \
    "$(under "answer bytes" "$(sed -n 's/^largest=//p' "$T/amp")" 36)"
# A CON request to a slow function from an address that never acknowledges:
# an empty ACK, then the separate answer, sent again at most 4 times (RFC
# 7252's MAX_RETRANSMIT: within 45 s of the first, which goes at 2 s),
# every one within three times the request.
mkfn "$T/slowbig" 'sleep 2; head -c 100000 /dev/zero'
zipdir "$T/slowbig" "$T/slowbig.zip"
deploy_ok slowbig 1 "$T/slowbig.zip"
python3 "$SRC/tests/integration/coap_raw.py" unacked "$PORT" slowbig 127.0.0.11 55 > "$T/unak"
cat "$T/unak"
check "a CON never acknowledged: an ACK and the answer 5 times, no more" \
    "request_bytes=16 datagrams=6 separate_answers=5" "$(grep -v '^largest=' "$T/unak" | paste -sd' ')"
check "a CON never acknowledged: every datagram at most 48 bytes" yes \
    "$(under "bytes" "$(sed -n 's/^largest=//p' "$T/unak")" 48)"
# An 8-byte request leaves no room for even a 16-byte block: the answer is
# held, and 4.01 with an Echo value goes instead; the retry carrying it gets
# the held answer (whole blocks now: the address is verified), and the
# function runs once.
python3 "$SRC/tests/integration/coap_raw.py" challenge "$PORT" big 127.0.0.10 > "$T/chal"
cat "$T/chal"
check "an 8-byte request from a new address: 4.01 of at most 24 bytes, no payload" \
    "request_bytes=8 first_code=4.01 first_payload=0" "$(grep -v '^first_bytes=\|^retry' "$T/chal" | paste -sd' ')"
check "an 8-byte request from a new address: the challenge at most 24 bytes" yes \
    "$(under "challenge bytes" "$(sed -n 's/^first_bytes=//p' "$T/chal")" 24)"
check "its retry with the Echo value: the held answer's first block" \
    "retry_code=2.05 retry_payload=1024" "$(grep '^retry' "$T/chal" | paste -sd' ')"
check "the challenged call ran once, the one above twice in all" 2 "$(ran big 2)"
rss0=$(rss_kb)
timeout 600 python3 "$SRC/tests/integration/coap_raw.py" large "$PORT" big 300 > "$T/large"
cat "$T/large"
echo "# 300 NON calls answered with 1 MB each: RSS $(($(rss_kb) - rss0)) kB more than before"
check "300 NON calls answered with 1 MB each: RSS grew by at most 32 MB" yes \
    "$(under "RSS grew by (kB)" $(($(rss_kb) - rss0)) 32768)"
check "300 NON calls answered with 1 MB each: every one answered" 300 \
    "$(awk -F= '/^answers_[245]/ {n += $2} END {print n + 0}' "$T/large")"
check "the first of them again: told its answer is gone" \
    "repeat_code=5.00 repeat_payload=answer too large to repeat (the call ran)" \
    "$(grep '^repeat_' "$T/large" | paste -sd' ')"
check "the first of them again: not run again (302: the two above too)" 302 "$(ran big 302)"
coap echo 'after the large answers'
check "a call right after the large answers" "0 after the large answers" "$CRC $(cat "$T/cout")"

check "the daemon still runs" yes "$(kill -0 "$DAEMON_PID" 2>/dev/null && echo yes || echo no)"
it_finish
