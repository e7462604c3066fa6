#!/usr/bin/env bash
# The Swarm backend on a real swarm. First a swarm of one node (on
# loopback): --backend swarm refused on an engine in no swarm, auto picking
# swarm, the image handed over by id with no registry. Then the two-node
# bed of swarm_lib.sh: no start without --registry; a c echo of 4 replicas
# over both nodes, by digest, its runtime image in the registry too;
# placement constraints kept, and refused when malformed or met by no node;
# /list's nodes and /logs from every replica; a redeploy and scaling under
# load with no call lost; a task Swarm restarts followed; a service removed
# by hand made again; services adopted after a kill; node 2 cut off (no
# reset) and killed under load: only 503s, no more than the calls in
# flight, and its replicas picked up on node 1 with no one acting; delete
# and stop leave no service, task, secret or network. Every trace of the
# bed is gone at the end. It skips (77), saying why, where the bed cannot
# be built.
#
#   test_swarm.sh DAEMON SOURCE_ROOT
set -u

# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/swarm_lib.sh"
it_init "$@"
if ! why=$(swarm_can_run 2>&1); then
    echo "SKIP $why"
    SUMMARY=yes
    exit 77
fi
# On any exit: the daemon (when a check started one) first, then the bed,
# then the usual cleanup, which keeps the exit status.
swarm_exit() {
    local rc=$?
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2> /dev/null; then
        kill -TERM "$DAEMON_PID" 2> /dev/null
        for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2> /dev/null || break; sleep 0.2; done
    fi
    { [ "$FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; } && [ "$SUMMARY" != yes ] && swarm_logs
    [ -n "$SINGLE" ] && single_down
    swarm_down
    (exit "$rc")
    cleanup
}
trap swarm_exit EXIT

us() { echo "${EPOCHREALTIME/./}"; }
secs() { local d=$(($(us) - $1)); printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000)); }
# within SECONDS COMMAND...: prints yes once COMMAND succeeds (every 0.2 s),
# or what its last output was when time runs out.
within() {
    local n=$(($1 * 5)) out=
    shift
    while [ "$n" -gt 0 ]; do
        out=$("$@" 2>&1) && { echo yes; return; }
        sleep 0.2
        n=$((n - 1))
    done
    echo "${out:-no}"
}

# ---- a swarm of one node: no registry needed -----------------------------

# On loopback: nothing listens beyond this machine.
SINGLE=
single_down() {
    docker swarm leave --force > /dev/null 2>&1
    docker network rm docker_gwbridge > /dev/null 2>&1
    SINGLE=
}
ENV=c
mkdir -p "$T/echo"
cp "$SRC/examples/echo/c/fn.c" "$T/echo/"
zipdir "$T/echo" "$T/echo.zip"
"$DAEMON" --state-dir "$T/noswarm" --coap-port -1 --http-port -1 --mgmt-port -1 \
    --backend swarm > "$T/noswarm.log" 2>&1
check "--backend swarm on an engine in no swarm: start fails" 1 $?
check "--backend swarm: says why" yes \
    "$(grep -q 'is in no swarm; run .docker swarm init. there, or point --docker-host at a manager' "$T/noswarm.log" && echo yes || cat "$T/noswarm.log")"
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = inactive ]; then
    SINGLE=yes
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 > /dev/null
    check "a swarm of one node" 0 $?
    STATE=$T/single
    LOG=$T/single.log
    TINYFAAS_BACKEND=auto it_start_daemon
    check "auto: swarm, no registry" yes "$(grep -q 'backend: swarm, 1 node(s); images stay on this node' "$LOG" && echo yes)"
    deploy_ok echo 2 "$T/echo.zip"
    check "one node: the service runs the image by id" yes \
        "$(docker service ls --format '{{.Image}}' --filter "label=tinyfaas.instance=$IID" | grep -qE '^sha256:[0-9a-f]{64}$' && echo yes)"
    call echo --data-binary 'one node'
    check "one node: echo" "200 one node" "$CODE $(cat "$T/out")"
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID"
    check "one node: stop" 0 $?
    check "one node: stop removes the service and its secret" "0 0" \
        "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" | wc -l) $(docker secret ls -q --filter "label=tinyfaas.instance=$IID" | wc -l)"
    DAEMON_PID= IID=
    single_down
fi

t0=$(us)
swarm_up
check "swarm up" 0 $?
echo "# swarm up in $(secs "$t0") s"
if [ -z "$SWARM_NODE2_ID" ]; then
    it_finish
    exit 1
fi
check "two nodes Ready" "ready ready" \
    "$(swarm_node_state "$SWARM_NODE1_ID") $(swarm_node_state "$SWARM_NODE2_ID")"
check "node 2 has an engine of its own" yes \
    "$([ "$(docker info --format '{{.ID}}')" != "$(swarm_docker2 info --format '{{.ID}}')" ] && echo yes)"
check "node 2 runs in its own cgroup" /tfnode2 \
    "$(awk -F: '$2 == "pids" {print $3}' "/proc/$(cat /run/tfnode2/docker.pid)/cgroup")"
check "node labels" "1 2" "$(docker node inspect --format "{{index .Spec.Labels \"$SWARM_LABEL\"}}" \
    "$SWARM_NODE1_ID" "$SWARM_NODE2_ID" | tr '\n' ' ' | sed 's/ $//')"

# ---- the daemon on the bed ------------------------------------------------

STATE=$T/state
LOG=$T/daemon.log

# A swarm of two nodes and no registry: the daemon says what to pass.
"$DAEMON" --state-dir "$T/noreg" --coap-port -1 --http-port -1 --mgmt-port -1 \
    --backend auto > "$T/noreg.log" 2>&1
check "no --registry on two nodes: start fails" 1 $?
check "no --registry: says why" yes \
    "$(grep -q 'the swarm has 2 nodes and no --registry was given' "$T/noreg.log" && echo yes || cat "$T/noreg.log")"

t0=$(us)
it_start_daemon --backend swarm --registry "$SWARM_REGISTRY"
check "backend: swarm" yes "$(grep -q 'backend: swarm, 2 node(s); images pushed to the registry' "$LOG" && echo yes)"

# list_replicas NAME: "NODE ADDRESS" of each replica /list shows, sorted.
list_replicas() {
    mgmt GET /list -H 'Accept: application/json'
    python3 -c '
import json, sys
for f in json.load(open(sys.argv[1])):
    if f["name"] == sys.argv[2]:
        for r in f.get("replicas", []):
            print(r["node"], r["address"])' "$T/body" "$1" | sort
}
nodes_of() { list_replicas "$1" | awk '{print $1}' | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ' | sed 's/ $//'; }
HOST1=$(docker node inspect --format '{{.Description.Hostname}}' "$SWARM_NODE1_ID")
HOST2=$(docker node inspect --format '{{.Description.Hostname}}' "$SWARM_NODE2_ID")

t0=$(us)
deploy_ok echo 4 "$T/echo.zip"
echo "# c echo, 4 replicas, deployed in $(secs "$t0") s"
check "echo: 4 replicas over both nodes" "$(printf '%s\n' "$HOST1=2" "$HOST2=2" | sort | tr '\n' ' ' | sed 's/ $//')" "$(nodes_of echo)"
check "echo: a service of the instance" 1 "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | wc -l)"
check "echo: its image by digest from the registry" yes \
    "$(docker service ls --format '{{.Image}}' --filter "label=tinyfaas.instance=$IID" | grep -q "^$SWARM_REGISTRY/tinyfaas-$IID-echo@sha256:" && echo yes)"
call echo --data-binary 'hello swarm'
check "echo over HTTP" "200 hello swarm" "$CODE $(cat "$T/out")"
coap echo 'hello coap'
check "echo over CoAP" "0 hello coap" "$CRC $(cat "$T/cout")"
# Every replica answers: 40 calls spread by calls in flight reach all four.
for i in $(seq 40); do call echo --data-binary "x$i"; [ "$CODE" = 200 ] || break; done
check "40 calls" 200 "$CODE"
# A stranger who reaches a replica's published port gets its challenge and
# nothing more: no call of its runs, and it is closed (handler protocol v2).
check "a stranger at a replica's port: no answer, closed" "challenge then closed" \
    "$(python3 "$SRC/tests/integration/hproto_stranger.py" "$(list_replicas echo | head -1 | awk '{print $2}')" 2>&1)"
mgmt GET '/logs?name=echo'
check "logs: every replica's start, from both nodes" 4 \
    "$(grep 'tinyfaas: c function' "$T/body" | grep -o 'handler=[^ ]*' | sort -u | wc -l)"

# Placement constraints: on node 2 only; kept in the state dir. A binary
# function: its runtime has a base image, which goes to the registry too.
mkfn "$T/placed" 'cat'
zipdir "$T/placed" "$T/placed.zip"
printf '{"name":"placed","env":"binary","threads":2,"zip":"%s","constraints":["node.labels.%s==2"]}' \
    "$(base64 -w0 "$T/placed.zip")" "$SWARM_LABEL" > "$T/up.json"
mgmt POST /upload --data-binary "@$T/up.json"
check "placed: deployed" 200 "$CODE"
check "the registry holds the functions' images and the runtime's" yes \
    "$(curl -s "http://$SWARM_REGISTRY/v2/_catalog" | python3 -c '
import json, sys
r = json.load(sys.stdin)["repositories"]
want = ("tinyfaas-base-binary", "-echo", "-placed")
print("yes" if all(any(x.startswith(w) or x.endswith(w) for x in r) for w in want) else r)')"
check "the runtime's registry name dropped here" "" "$(docker image ls -q "$SWARM_REGISTRY/tinyfaas-base-binary")"
check "placed: both replicas on node 2" "$HOST2=2" "$(nodes_of placed)"
check "placed: constraints kept" '["node.labels.tinyfaas-node==2"]' \
    "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["constraints"]))' "$STATE/functions/placed/spec.json" 2>&1)"
printf '{"name":"nowhere","env":"c","threads":1,"zip":"%s","constraints":["node.labels.%s==9"]}' \
    "$(base64 -w0 "$T/echo.zip")" "$SWARM_LABEL" > "$T/up.json"
mgmt POST /upload --data-binary "@$T/up.json"
check "a constraint no node meets: refused" yes "$([ "$CODE" -ge 500 ] && grep -q 'no suitable node' "$T/body" && echo yes || echo "$CODE $(cat "$T/body")")"
check "nowhere: no service left" 0 "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=nowhere | wc -l)"
printf '{"name":"bad","env":"c","zip":"%s","constraints":["node.labels.x"]}' "$(base64 -w0 "$T/echo.zip")" > "$T/up.json"
mgmt POST /upload --data-binary "@$T/up.json"
check "a malformed constraint: 400" "400 constraint 'node.labels.x' is not NAME==VALUE or NAME!=VALUE" "$CODE $(cat "$T/body")"

# A redeploy and scaling under load fail no call.
load_start echo 16
check "load runs" yes "$(load_wait_ok 200)"
deploy_ok echo 4 "$T/echo.zip"
check "load goes on after the redeploy" yes "$(load_wait_ok 200)"
mgmt POST /scale --data '{"name":"echo","threads":2}'
check "scale to 2" 200 "$CODE"
check "echo: 2 replicas" 2 "$(list_replicas echo | wc -l)"
check "load goes on after scaling down" yes "$(load_wait_ok 200)"
mgmt POST /scale --data '{"name":"echo","threads":4}'
check "scale to 4" 200 "$CODE"
check "echo: 4 replicas" 4 "$(list_replicas echo | wc -l)"
check "load goes on after scaling up" yes "$(load_wait_ok 200)"
load_stop
check "redeploy, scaling: no HTTP call failed" "0 0" "$(field "$T/hload.json" errors) $(field "$T/hload.json" timeouts)"
check "redeploy, scaling: no CoAP call failed" "0 0" "$(field "$T/cload.json" errors) $(field "$T/cload.json" timeouts)"

# Swarm restarts a task whose process died; the daemon follows and makes nothing.
SVC_ID=$(docker service ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo)
list_replicas echo > "$T/before"
victim=$(docker ps -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | head -1)
docker kill "$victim" > /dev/null
check "a task killed" 0 $?
replaced() { [ "$(list_replicas echo | wc -l)" = 4 ] && [ "$(list_replicas echo)" != "$(cat "$T/before")" ]; }
check "echo: Swarm's new task followed" yes "$(within 60 replaced)"
check "echo: the same service" "$SVC_ID" "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo)"
check "echo: serves" yes "$(answers_within 30 echo after-kill after-kill)"

# A service removed by hand is made again.
docker service rm "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=placed)" > /dev/null
one_placed() {
    grep -q 'function placed: its service .* is gone; making it again' "$LOG" &&
        [ "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=placed | wc -l)" = 1 ]
}
check "placed: its service made again after a removal by hand" yes "$(within 60 one_placed)"
check "placed: serves again" yes "$(answers_within 60 placed again again)"

# A restart after a kill adopts the services: the same tasks serve.
list_replicas echo > "$T/before"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2> /dev/null
DAEMON_PID=
it_start_daemon --backend swarm --registry "$SWARM_REGISTRY"
check "restart: echo serves" yes "$(answers_within 60 echo back back)"
check "restart: the services adopted" yes "$(grep -q 'service(s) of the last run still run: adopted' "$LOG" && echo yes)"
check "restart: the same replicas" "$(cat "$T/before")" "$(list_replicas echo)"
placed_back() { [ "$(nodes_of placed)" = "$HOST2=2" ]; }
check "restart: placed back on node 2" yes "$(within 60 placed_back)"

# Node 2 loses power under load: the calls in flight on it fail 503, the
# rest are answered, and its replicas come back on node 1 with no one acting.
load_start echo 16
check "load runs before the loss" yes "$(load_wait_ok 200)"
( while :; do curl -s -o /dev/null -m 40 -w '%{http_code}\n' --data-binary probe "http://127.0.0.1:$PORT/echo"; done ) > "$T/probe" 2>&1 &
PROBE=$!
t0=$(us)
swarm_cut_node2
check "node 2 cut off" 0 $?
swarm_kill_node2
check "node 2 killed" 0 $?
check "load goes on on node 1" yes "$(load_wait_ok 500)"
echo "# 500 more calls of each client answered $(secs "$t0") s after the cut"
node2_down() { [ "$(swarm_node_state "$SWARM_NODE2_ID")" = down ]; }
check "node 2 Down" yes "$(within 60 node2_down)"
echo "# node 2 Down $(secs "$t0") s after the cut"
all_on_node1() { [ "$(nodes_of echo)" = "$HOST1=4" ]; }
check "echo: 4 replicas on node 1, picked up" yes "$(within 90 all_on_node1)"
echo "# 4 replicas serve on node 1 $(secs "$t0") s after the cut"
check "load goes on on the new replicas" yes "$(load_wait_ok 200)"
kill "$PROBE"; wait "$PROBE" 2> /dev/null
load_stop
echo "# lost: http $(field "$T/hload.json" errors) errors $(field "$T/hload.json" timeouts) timeouts, coap $(field "$T/cload.json" errors) errors $(field "$T/cload.json" timeouts) timeouts"
check "calls lost: at most those in flight (16 each)" yes \
    "$([ $(($(field "$T/hload.json" errors) + $(field "$T/hload.json" timeouts))) -le 16 ] && [ $(($(field "$T/cload.json" errors) + $(field "$T/cload.json" timeouts))) -le 16 ] && echo yes)"
check "the probe saw only 200 and 503" "" "$(grep -vxE '200|503' "$T/probe" | sort | uniq -c)"

# Delete, then stop: nothing of the instance is left on the swarm.
mgmt POST /delete --data '{"name":"echo"}'
check "delete echo" 200 "$CODE"
check "echo: no service, task, secret or network" "0 0 0 0" \
    "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | wc -l) $(docker ps -aq --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | wc -l) $(docker secret ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | wc -l) $(docker network ls -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | wc -l)"
mgmt POST /wipe
check "wipe" 200 "$CODE"
check "wipe: no service or secret of the instance" "0 0" \
    "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" | wc -l) $(docker secret ls -q --filter "label=tinyfaas.instance=$IID" | wc -l)"
t0=$(us)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
check "stop: exit status" 0 $?
echo "# stopped in $(secs "$t0") s"
DAEMON_PID=
check "stop: no service or secret of the instance" "0 0" \
    "$(docker service ls -q --filter "label=tinyfaas.instance=$IID" | wc -l) $(docker secret ls -q --filter "label=tinyfaas.instance=$IID" | wc -l)"

t0=$(us)
swarm_down
check "swarm down" 0 $?
echo "# swarm down in $(secs "$t0") s"
check "nothing of the bed left" "" "$(swarm_traces)"
swarm_down
check "swarm down again" 0 $?
check "still nothing left" "" "$(swarm_traces)"

it_finish
