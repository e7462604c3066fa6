#!/usr/bin/env bash
# Prometheus metrics on the management port (docs/metrics.md): the text is
# what promtool accepts; after an exact number of calls over CoAP and HTTP,
# answered or failed, each counter moved by exactly that, with exact labels;
# a bound that refuses a client counts a hit; the token is asked unless
# --metrics-no-auth (warned in the log), and --no-metrics serves nothing; a
# real Prometheus scrapes the daemon with the token from a file and answers
# a query with the right value.
#
#   test_metrics.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
# Prometheus is this test's need, not the platform's: installed here, so the
# quick start never brings it (and its service) onto a gateway.
if ! command -v promtool > /dev/null || ! command -v prometheus > /dev/null; then
    source "$SRC/scripts/lib.sh"
    TINYFAAS_PACKAGES=prometheus tf_install_packages ||
        { echo "FAIL prometheus is missing and cannot be installed"; exit 1; }
fi
DTLS_PORT=$(pick_port) || { echo "no free port"; exit 1; }
printf 'dev1 secret1\n' > "$T/keys"
it_start_daemon --coaps-port "$DTLS_PORT" --psk-file "$T/keys"

# scrape [CURL ARGS...]: GET /metrics with the token (unless told otherwise
# by the arguments); sets CODE, the text in $T/metrics.
scrape() {
    require_daemon
    CODE=$(timeout 30 curl -s -o "$T/metrics" -w '%{http_code}' "$@" "http://127.0.0.1:$MPORT/metrics")
    [ -n "$CODE" ] || CODE=none
}
# metric 'NAME{LABELS}': its value in the last scrape, 0 when absent.
metric() { awk -v k="$1" '$1 == k {v = $2} END {print v == "" ? 0 : v}' "$T/metrics"; }
# promtool_ok: whether promtool takes the last scrape (its complaints, if not).
promtool_ok() { promtool check metrics < "$T/metrics" > "$T/promtool" 2>&1 && echo yes || cat "$T/promtool"; }

scrape -H "Authorization: Bearer $TINYFAAS_TOKEN"
check "/metrics with the token" 200 "$CODE"
scrape
check "/metrics without the token" 401 "$CODE"
scrape -H "Authorization: Bearer wrong"
check "/metrics with a wrong token" 401 "$CODE"

mkfn "$T/echo" 'cat'
zipdir "$T/echo" "$T/echo.zip"
deploy echo 1 "$T/echo.zip"
check "deploy echo" 200 "$CODE"
mkfn "$T/fails" 'echo broken >&2; exit 3'
zipdir "$T/fails" "$T/fails.zip"
deploy fails 1 "$T/fails.zip"
check "deploy fails" 200 "$CODE"
ENV=nosuchruntime deploy bad 1 "$T/echo.zip"
check "deploy with an unknown runtime" 400 "$CODE"

# The calls, each answered as expected, so the counts below are exact.
for i in 1 2 3 4 5; do coap echo "c$i"; check "coap echo $i" "0 c$i" "$CRC $(cat "$T/cout")"; done
for i in 1 2 3 4; do call echo --data-binary "h$i"; check "http echo $i" "200 h$i" "$CODE $(cat "$T/out")"; done
for i in 1 2 3; do call nosuch -d x; check "http unknown $i" 404 "$CODE"; done
for i in 1 2; do coap nosuch x; check "coap unknown $i" 4.04 "$(cat "$T/cerr")"; done
timeout 90 coap-client-openssl -B 60 -m post -u dev1 -k secret1 -e s1 -o "$T/sout" \
    "coaps://127.0.0.1:$DTLS_PORT/echo" > /dev/null 2>&1
check "coaps echo" s1 "$(cat "$T/sout" 2> /dev/null)"
for i in 1 2 3; do call fails -d x; check "http fails $i" 500 "$CODE"; done
for i in 1 2; do coap fails x; check "coap fails $i" 5.00 "$(cut -c1-4 "$T/cerr")"; done
# One over --max-body (1 MiB by default): 413, and a hit of that bound.
head -c 1100000 /dev/zero > "$T/big"
call echo --data-binary "@$T/big"
check "http over --max-body" 413 "$CODE"

scrape -H "Authorization: Bearer $TINYFAAS_TOKEN"
check "promtool check metrics" yes "$(promtool_ok)"
check "content type" "text/plain; version=0.0.4; charset=utf-8" \
    "$(curl -s -o /dev/null -w '%{content_type}' -H "Authorization: Bearer $TINYFAAS_TOKEN" "http://127.0.0.1:$MPORT/metrics")"
calls() { metric "tinyfaas_calls_total{function=\"$1\",protocol=\"$2\",code=\"$3\"}"; }
check "echo coap 2.05" 5 "$(calls echo coap 2.05)"
check "echo http 200" 4 "$(calls echo http 200)"
check "echo http 413" 1 "$(calls echo http 413)"
check "echo coaps 2.05" 1 "$(calls echo coaps 2.05)"
check "unknown http 404" 3 "$(calls _unknown http 404)"
check "unknown coap 4.04" 2 "$(calls _unknown coap 4.04)"
check "fails http 500" 3 "$(calls fails http 500)"
check "fails coap 5.00" 2 "$(calls fails coap 5.00)"
check "no calls counted but these" 21 \
    "$(awk '/^tinyfaas_calls_total\{/ {n += $2} END {print n}' "$T/metrics")"
hist() { metric "tinyfaas_call_duration_seconds_$1{function=\"$2\",protocol=\"$3\"${4:-}}"; }
check "echo coap duration count" 5 "$(hist count echo coap)"
check "echo coap duration +Inf" 5 "$(hist bucket echo coap ',le="+Inf"')"
check "echo http duration count" 5 "$(hist count echo http)"
check "unknown http duration count" 3 "$(hist count _unknown http)"
check "fails coap duration count" 2 "$(hist count fails coap)"
check "echo in flight" 0 "$(metric 'tinyfaas_calls_in_flight{function="echo"}')"
check "fails in flight" 0 "$(metric 'tinyfaas_calls_in_flight{function="fails"}')"
check "echo queued" 0 "$(metric 'tinyfaas_calls_queued{function="echo"}')"
check "echo handlers" 1 "$(metric 'tinyfaas_function_handlers{function="echo"}')"
check "echo restarts" 0 "$(metric 'tinyfaas_handler_restarts_total{function="echo"}')"
check "echo deployed" 1 "$(metric 'tinyfaas_deploys_total{function="echo",result="success"}')"
check "bad deploy" 1 "$(metric 'tinyfaas_deploys_total{function="bad",result="invalid"}')"
check "deploy durations" 3 "$(metric 'tinyfaas_deploy_duration_seconds_count')"
check "max_body hits" 1 "$(metric 'tinyfaas_limit_hits_total{limit="max_body"}')"
check "coap endpoints remembered" yes "$([ "$(metric tinyfaas_coap_endpoints)" -ge 1 ] && echo yes)"
check "process metrics" 4 "$(grep -cE '^process_(resident_memory_bytes|open_fds|cpu_seconds_total|start_time_seconds) [0-9.e+]+$' "$T/metrics")"

# A slow call over DTLS: while it runs, it is in flight and its session is
# held; its answer goes separately, after the empty ACK (1 s).
mkfn "$T/slow" 'sleep 3; cat'
zipdir "$T/slow" "$T/slow.zip"
deploy slow 1 "$T/slow.zip"
check "deploy slow" 200 "$CODE"
timeout 90 coap-client-openssl -B 60 -m post -u dev1 -k secret1 -e s2 -o "$T/slow.out" \
    "coaps://127.0.0.1:$DTLS_PORT/slow" > /dev/null 2>&1 &
SLOW_PID=$!
seen=no
for _ in $(seq 50); do
    scrape -H "Authorization: Bearer $TINYFAAS_TOKEN"
    [ "$(metric 'tinyfaas_calls_in_flight{function="slow"}')" = 1 ] && { seen=yes; break; }
    sleep 0.1
done
check "slow call in flight" yes "$seen"
check "a DTLS session held" yes "$([ "$(metric tinyfaas_dtls_sessions)" -ge 1 ] && echo yes)"
wait "$SLOW_PID"
check "slow call answered" s2 "$(cat "$T/slow.out" 2> /dev/null)"
scrape -H "Authorization: Bearer $TINYFAAS_TOKEN"
check "slow call counted" 1 "$(calls slow coaps 2.05)"
check "slow call no longer in flight" 0 "$(metric 'tinyfaas_calls_in_flight{function="slow"}')"
check "separate responses" yes \
    "$([ "$(metric tinyfaas_coap_separate_responses_total)" -ge 1 ] && echo yes)"

# The management API's cap per address (16): the 17th connection is refused
# and counted.
fds=()
for _ in $(seq 17); do exec {fd}<> "/dev/tcp/127.0.0.1/$MPORT" && fds+=("$fd"); done
sleep 0.5
for fd in "${fds[@]}"; do exec {fd}>&-; done
sleep 0.5
scrape -H "Authorization: Bearer $TINYFAAS_TOKEN"
check "mgmt per-address cap hit" 1 "$(metric 'tinyfaas_limit_hits_total{limit="mgmt_connections_per_ip"}')"

# A real Prometheus scrapes the daemon every second with the token from a
# file, and its query API gives the counter's value.
PROM=$T/prometheus
mkdir -p "$PROM/data"
printf '%s\n' "$TINYFAAS_TOKEN" > "$PROM/token"
cat > "$PROM/prometheus.yml" << EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: tinyfaas
    metrics_path: /metrics
    authorization:
      credentials_file: $PROM/token
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
PPORT=$(pick_port "$PORT") || { echo "no free port"; exit 1; }
prometheus --config.file="$PROM/prometheus.yml" --storage.tsdb.path="$PROM/data" \
    --web.listen-address="127.0.0.1:$PPORT" > "$PROM/log" 2>&1 &
LOAD_PIDS+=($!) # the cleanup kills it, whatever happens
PROM_PID=$!
# query EXPR: the value of the first series EXPR gives, or "none".
query() {
    curl -s -m 5 "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "none")
except Exception:
    print("none")'
}
want='tinyfaas_calls_total{function="echo",protocol="coap",code="2.05"}'
got=none
for _ in $(seq 60); do
    got=$(query "$want")
    [ "$got" = 5 ] && break
    sleep 0.5
done
check "prometheus query $want" 5 "$got"
check "prometheus: the target is up" 1 "$(query 'up{job="tinyfaas"}')"
kill -TERM "$PROM_PID"
wait "$PROM_PID" 2> /dev/null
rm -rf "$PROM"

# restart ARGS...: the daemon again with ARGS, no function kept.
restart() {
    mgmt POST /wipe
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID" 2> /dev/null
    DAEMON_PID=
    it_start_daemon "$@"
}
restart --metrics-no-auth
scrape
check "--metrics-no-auth: /metrics without the token" 200 "$CODE"
check "--metrics-no-auth: warned at start" 1 "$(grep -c 'warn GET /metrics asks for no token' "$LOG")"
check "--metrics-no-auth: the rest still asks" 401 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/list")"
restart --no-metrics
scrape -H "Authorization: Bearer $TINYFAAS_TOKEN"
check "--no-metrics: no /metrics" 404 "$CODE"

it_finish
