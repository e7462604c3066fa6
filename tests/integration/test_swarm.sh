#!/usr/bin/env bash
# The two-node Docker Swarm test bed (swarm_lib.sh) the Swarm backend's
# checks run on: it comes up with both nodes Ready; a service of a test
# image pushed to its registry, named by digest, runs spread over both
# nodes, each task reachable from the host at its node's address and
# host-mode published port; when node 2 is cut off and killed it goes Down
# and its replicas come back on node 1; and once the bed is down nothing of
# it is left. It skips (77), saying why, where the bed cannot be built.
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

# A tiny image that answers HTTP on 8000 with the task's container.
# shellcheck disable=SC2016 # the container's shell expands it
IMG=$(swarm_image tfswarm-hi 'echo hi $(hostname) > /www/index.html && exec httpd -f -p 8000 -h /www')
check "image pushed, named by digest" yes \
    "$([[ $IMG == "$SWARM_REGISTRY/tfswarm-hi@sha256:"* ]] && echo yes || echo "$IMG")"

# Four replicas spread over the nodes' labels (a preference: they all go to
# node 1 once node 2 is lost), each on a port its node's engine picks.
SVC=tfswarm-bed-$$
t0=$(us)
docker service create -d --name "$SVC" --replicas 4 \
    --placement-pref "spread=node.labels.$SWARM_LABEL" \
    --publish mode=host,target=8000 --stop-grace-period 1s --restart-delay 1s \
    "$IMG" > /dev/null
check "service created" 0 $?
n_tasks() { swarm_tasks "$SVC" | awk -v n="${2:-}" 'n == "" || $2 == n' | wc -l | grep -qx "$1"; }
check "4 tasks running" yes "$(within 60 n_tasks 4)"
echo "# 4 tasks running in $(secs "$t0") s"
swarm_tasks "$SVC" > "$T/tasks"
check "2 tasks on node 1" 2 "$(awk -v n="$SWARM_NODE1_ID" '$2 == n' "$T/tasks" | wc -l)"
check "2 tasks on node 2" 2 "$(awk -v n="$SWARM_NODE2_ID" '$2 == n' "$T/tasks" | wc -l)"
# answers FILE: each task at NODE_ADDR:PORT answers with its own container.
answers() {
    local id addr port cid got
    while read -r id _ addr port cid; do
        got=$(curl -s -m 5 "http://$addr:$port/")
        check "task ${id:0:12} on ${addr}:$port answers" "hi ${cid:0:12}" "$got"
    done < "$1"
}
answers "$T/tasks"
awk -v n="$SWARM_NODE2_ID" '$2 == n {print $3, $4}' "$T/tasks" > "$T/node2-ports"

# Node 2 loses power: its link drops every packet, its processes die.
t0=$(us)
swarm_cut_node2
check "node 2 cut off" 0 $?
swarm_kill_node2
check "node 2 killed" 0 $?
check "node 2's cgroup empty" 0 "$(find /sys/fs/cgroup/pids/tfnode2 -name cgroup.procs -exec cat {} + | wc -l)"
read -r addr port < "$T/node2-ports"
curl -s -m 2 -o /dev/null "http://$addr:$port/"
check "node 2 silent: a connection times out (no RST)" 28 $?
node2_down() { [ "$(swarm_node_state "$SWARM_NODE2_ID")" = down ]; }
check "node 2 Down" yes "$(within 60 node2_down)"
echo "# node 2 Down $(secs "$t0") s after the cut"
check "4 tasks running on node 1" yes "$(within 90 n_tasks 4 "$SWARM_NODE1_ID")"
echo "# 4 tasks on node 1 $(secs "$t0") s after the cut"
swarm_tasks "$SVC" | awk -v n="$SWARM_NODE1_ID" '$2 == n' > "$T/tasks"
answers "$T/tasks"

docker service rm "$SVC" > /dev/null
check "service removed" 0 $?
no_tasks() { [ -z "$(docker ps -aq --filter "label=com.docker.swarm.service.name=$SVC")" ]; }
check "its containers gone" yes "$(within 30 no_tasks)"

t0=$(us)
swarm_down
check "swarm down" 0 $?
echo "# swarm down in $(secs "$t0") s"
check "nothing of the bed left" "" "$(swarm_traces)"
swarm_down
check "swarm down again" 0 $?
check "still nothing left" "" "$(swarm_traces)"

it_finish
