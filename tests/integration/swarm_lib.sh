# shellcheck shell=bash disable=SC2015
# A real two-node Docker Swarm on one machine, for the tests of the Swarm
# backend. Node 1 is the host's own engine (the manager); node 2 is a second
# dockerd in network, mount and UTS namespaces of its own, with its own data
# and exec roots and one cgroup (in every hierarchy) holding its whole process
# tree, so that it can be cut off and killed like a machine losing power. A
# registry both engines reach on their loopback holds the test images.
#
#   source swarm_lib.sh
#   why=$(swarm_can_run 2>&1) || { echo "SKIP $why"; exit 77; }
#   trap swarm_down EXIT
#   swarm_up || exit 1
#   ...; swarm_cut_node2; swarm_kill_node2; ...
#
# Variables (swarm_up sets the ids):
#   SWARM_NODE1_ADDR  10.231.0.1: node 1's (the host's) address on the link
#   SWARM_NODE2_ADDR  10.231.0.2: node 2's address
#   SWARM_NODE2_HOST  unix:///run/tfnode2/docker.sock: DOCKER_HOST for node 2
#   SWARM_REGISTRY    127.0.0.1:5231: the registry, the same on both engines
#   SWARM_NODE1_ID, SWARM_NODE2_ID: the nodes' Swarm ids
#   SWARM_LABEL       tinyfaas-node: a node label, 1 on node 1, 2 on node 2
#                     (--placement-pref spread=node.labels.tinyfaas-node,
#                     --constraint node.labels.tinyfaas-node==2)
# Functions: swarm_can_run, swarm_up, swarm_down, swarm_cut_node2,
# swarm_kill_node2, swarm_docker2 ARGS (docker on node 2), swarm_image NAME
# COMMAND (a busybox image pushed; prints its name by digest), swarm_tasks
# SERVICE (running tasks: id, node, node address, published port,
# container), swarm_node_state NODE_ID, swarm_traces (what is left of the
# bed), swarm_logs (node 2's and the registry's logs, for a failure).
#
# Services must name images by digest (127.0.0.1:5231/NAME@sha256:...): the
# engines then pull nothing they already have and never ask a public
# registry. Without IPVS in the kernel there is no routing mesh and no
# service VIP: the bed removes the ingress network, so a port published in
# ingress mode fails at once. Publish in host mode with no published port
# (--publish mode=host,target=PORT) and reach a task at its node's address
# and the port its engine picked (swarm_tasks).
#
# What the bed makes is recorded under /run/tfswarm with the pid of the
# shell that made it. swarm_down undoes it all, also after a partial
# swarm_up, when called twice, or for a run that died (the next swarm_up
# does it then); a bed whose owner still runs is never touched.

SWARM_NODE1_ADDR=10.231.0.1
SWARM_NODE2_ADDR=10.231.0.2
SWARM_NODE2_HOST=unix:///run/tfnode2/docker.sock
SWARM_REGISTRY=127.0.0.1:5231
SWARM_LABEL=tinyfaas-node
SWARM_NODE1_ID=
SWARM_NODE2_ID=
export SWARM_NODE1_ADDR SWARM_NODE2_ADDR SWARM_NODE2_HOST SWARM_REGISTRY SWARM_LABEL \
    SWARM_NODE1_ID SWARM_NODE2_ID

_SWARM_NS=tfnode2              # node 2's network namespace and cgroup name
_SWARM_VETH_HOST=tfn2h         # the link's end on the host
_SWARM_VETH_NODE=tfn2c         # its end in node 2's namespace
_SWARM_POOL=10.232.0.0/16      # the swarm's overlay networks
_SWARM_RUN=/run/tfnode2        # node 2's socket, pid file, exec root, logs
_SWARM_DATA=/var/lib/tfnode2   # node 2's data root
_SWARM_STATE=/run/tfswarm      # the bed's record, the host registry's files
_SWARM_REGDATA=/var/lib/tfswarm-registry
_SWARM_ENGINE_NETNS=/var/run/docker/netns  # the host engine's sandboxes
_SWARM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_SWARM_LIB=$_SWARM_LIB_DIR/$(basename "${BASH_SOURCE[0]}")
_SWARM_MSG_PREFIX="swarm bed:"

_swarm_say() { printf '# %s %s\n' "$_SWARM_MSG_PREFIX" "$*" >&2; }
_swarm_err() { printf '%s %s\n' "$_SWARM_MSG_PREFIX" "$*" >&2; }
# Microseconds since the epoch; _swarm_secs START: seconds since then (0.1 s).
_swarm_us() { echo "${EPOCHREALTIME/./}"; }
_swarm_secs() { local d=$(($(_swarm_us) - $1)); printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000)); }

# The cgroup hierarchies mounted on the host, v1 and (in hybrid mode) the
# unified one: runc makes each container's cgroup in that one too.
_swarm_cg_dirs() {
    awk '($3 == "cgroup" || $3 == "cgroup2") && $2 ~ "^/sys/fs/cgroup/" {print $2}' /proc/self/mounts
}

# swarm_can_run: whether the bed can be built here; if not, one line on
# stderr saying why, and a non-zero status (tests then exit 77 with it).
swarm_can_run() {
    local c ctl
    if [ "$(id -u)" -ne 0 ]; then _swarm_err "needs root (network namespaces, cgroups, a second dockerd)"; return 1; fi
    for c in ip ss unshare setsid mountpoint iptables dockerd docker tar curl awk; do
        command -v "$c" > /dev/null || { _swarm_err "no $c command"; return 1; }
    done
    ip netns list > /dev/null 2>&1 || { _swarm_err "ip has no netns support"; return 1; }
    unshare --net --mount --uts true 2> /dev/null ||
        { _swarm_err "unshare cannot make network, mount and UTS namespaces here"; return 1; }
    [ -x /bin/busybox ] && ! ldd /bin/busybox > /dev/null 2>&1 ||
        { _swarm_err "no static /bin/busybox for the test images (package busybox-static)"; return 1; }
    for ctl in cpuset memory pids freezer devices; do
        [ -e "/sys/fs/cgroup/$ctl/cgroup.procs" ] ||
            { _swarm_err "no cgroup v1 $ctl controller mounted at /sys/fs/cgroup/$ctl"; return 1; }
    done
    docker version > /dev/null 2>&1 || { _swarm_err "the host's Docker engine does not answer"; return 1; }
    [ "$(docker info --format '{{.CgroupVersion}}' 2> /dev/null)" = 1 ] ||
        { _swarm_err "the host's Docker engine does not run on cgroup v1"; return 1; }
    _swarm_busy && return 1
    # A swarm of this bed's own, left by a run that died, swarm_up removes.
    if [ ! -e "$_SWARM_STATE/host-swarm" ] &&
        [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null)" != inactive ]; then
        _swarm_err "the host's Docker engine is already in a swarm, not this bed's"
        return 1
    fi
    return 0
}

_swarm_owner() { cat "$_SWARM_STATE/owner" 2> /dev/null; }
# _swarm_me: the pid a bed is recorded under: the shell that sourced this
# (swarm_down's own session is told it).
_swarm_me() { echo "${_SWARM_SELF:-$$}"; }

# _swarm_busy: whether another live run holds the bed (saying so on stderr):
# its recorded owner runs, or a record without owner is being made.
_swarm_busy() {
    local owner
    [ -d "$_SWARM_STATE" ] || return 1
    owner=$(_swarm_owner)
    if [ -z "$owner" ] && [ -n "$(find "$_SWARM_STATE" -maxdepth 0 -newermt '-30 seconds' 2> /dev/null)" ]; then
        _swarm_err "the bed is being set up by another test run"
        return 0
    fi
    if [ -n "$owner" ] && [ "$owner" != "$(_swarm_me)" ] && kill -0 "$owner" 2> /dev/null; then
        _swarm_err "the bed is in use by another test run (pid $owner)"
        return 0
    fi
    return 1
}

# _swarm_mark NAME [VALUE]: records that the bed made something.
_swarm_mark() { printf '%s\n' "${2:-1}" > "$_SWARM_STATE/$1"; }
_swarm_marked() { [ -e "$_SWARM_STATE/$1" ]; }

# swarm_docker2 ARGS...: docker against node 2's engine.
swarm_docker2() { DOCKER_HOST=$SWARM_NODE2_HOST docker "$@"; }

# _swarm_take: makes this shell the bed's owner, removing what a run that
# died left; fails when a live run holds it.
_swarm_take() {
    local owner
    if mkdir "$_SWARM_STATE" 2> /dev/null; then
        _swarm_me > "$_SWARM_STATE/owner"
        return 0
    fi
    _swarm_busy && return 1
    owner=$(_swarm_owner)
    [ "$owner" = "$(_swarm_me)" ] || _swarm_say "removing what a run that died (pid ${owner:-unknown}) left"
    _swarm_me > "$_SWARM_STATE/owner"
    swarm_down
    mkdir "$_SWARM_STATE" 2> /dev/null || { _swarm_err "cannot make $_SWARM_STATE"; return 1; }
    _swarm_me > "$_SWARM_STATE/owner"
}

# _swarm_need_registry: installs Debian's docker-registry when missing (the
# tests' need, not the platform's), and keeps its service from running.
_swarm_need_registry() {
    command -v docker-registry > /dev/null && return 0
    _swarm_say "installing docker-registry"
    (
        # shellcheck disable=SC1091
        source "$_SWARM_LIB_DIR/../../scripts/lib.sh"
        TINYFAAS_PACKAGES=docker-registry tf_install_packages
    ) >&2 || return 1
    # On a machine run by systemd the package starts a registry on :5000.
    if [ -d /run/systemd/system ]; then
        systemctl disable --now docker-registry > /dev/null 2>&1
    fi
    command -v docker-registry > /dev/null
}

# _swarm_wait SECONDS COMMAND...: until COMMAND succeeds (every 0.1 s).
_swarm_wait() {
    local n=$(($1 * 10))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" > /dev/null 2>&1 && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

_swarm_node_ready() { [ "$(docker node inspect --format '{{.Status.State}}' "$1" 2> /dev/null)" = ready ]; }

# swarm_up: builds the bed (about 2 s on an idle machine). Fails with a line
# on stderr saying why; what it made so far swarm_down removes.
swarm_up() {
    local - cg mp secret token t0
    set +e
    t0=$(_swarm_us)
    _swarm_take || return 1
    _swarm_need_registry || { _swarm_err "docker-registry is missing and cannot be installed"; return 1; }

    # What the bed needs must be free: it takes nothing that is someone else's.
    [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null)" = inactive ] ||
        { _swarm_err "the host's Docker engine is already in a swarm"; return 1; }
    if ip netns list | grep -qw "$_SWARM_NS" || ip link show "$_SWARM_VETH_HOST" > /dev/null 2>&1; then
        _swarm_err "a netns $_SWARM_NS or link $_SWARM_VETH_HOST exists already"
        return 1
    fi
    if ip -4 -o addr show | grep -qE ' inet 10\.23(1\.0|2)\.' ||
        ip -4 route show match "$SWARM_NODE2_ADDR" | grep -qv '^default' ||
        ip -4 route show match 10.232.0.1 | grep -qv '^default'; then
        _swarm_err "10.231.0.0/24 or $_SWARM_POOL is taken on this host: $(ip -4 -o addr show | grep -E ' inet 10\.23[12]\.' | head -1)$(ip -4 route show match "$SWARM_NODE2_ADDR" | grep -v '^default' | head -1)"
        return 1
    fi
    if ss -ltnH 2> /dev/null | awk '{print $4}' | grep -qE "^(127\.0\.0\.1|0\.0\.0\.0|\*|\[::\]):${SWARM_REGISTRY##*:}\$"; then
        _swarm_err "port ${SWARM_REGISTRY##*:} (the registry) is taken on this host"
        return 1
    fi
    # An empty cgroup of that name is one a bed left (runc's in the unified
    # hierarchy were, before the bed removed those): it goes.
    for mp in $(_swarm_cg_dirs); do
        [ -e "$mp/$_SWARM_NS" ] || continue
        if [ -n "$(find "$mp/$_SWARM_NS" -name cgroup.procs -exec cat {} + 2> /dev/null)" ] ||
            ! find "$mp/$_SWARM_NS" -depth -type d -exec rmdir {} + 2> /dev/null; then
            _swarm_err "a cgroup $mp/$_SWARM_NS exists already, with processes"
            return 1
        fi
    done

    # From here on swarm_down removes what has those names.
    _swarm_mark made

    # The link: node 1 at .1 on the host, node 2 at .2 in its namespace.
    grep -q ' /run/netns ' /proc/self/mounts || _swarm_mark netns-mount-ours
    ip netns add "$_SWARM_NS" &&
        ip link add "$_SWARM_VETH_HOST" type veth peer name "$_SWARM_VETH_NODE" netns "$_SWARM_NS" &&
        ip addr add "$SWARM_NODE1_ADDR/24" dev "$_SWARM_VETH_HOST" &&
        ip link set "$_SWARM_VETH_HOST" up &&
        ip -n "$_SWARM_NS" addr add "$SWARM_NODE2_ADDR/24" dev "$_SWARM_VETH_NODE" &&
        ip -n "$_SWARM_NS" link set "$_SWARM_VETH_NODE" up &&
        ip -n "$_SWARM_NS" link set lo up ||
        { _swarm_err "cannot make the network namespace and its link"; return 1; }

    # One cgroup per hierarchy for node 2's whole tree; its containers go
    # below it (--cgroup-parent). A cpuset takes no process before it has
    # cpus and mems.
    for mp in $(_swarm_cg_dirs); do
        mkdir "$mp/$_SWARM_NS" || { _swarm_err "cannot make the cgroup $mp/$_SWARM_NS"; return 1; }
    done
    cg=/sys/fs/cgroup/cpuset/$_SWARM_NS
    cat "$cg/../cpuset.cpus" > "$cg/cpuset.cpus" && cat "$cg/../cpuset.mems" > "$cg/cpuset.mems" ||
        { _swarm_err "cannot set up the cpuset cgroup $cg"; return 1; }

    # The registry: one process on the host's loopback and one on node 2's,
    # on the same storage, so the same name works on both engines (which
    # trust plain HTTP on loopback only).
    mkdir -p "$_SWARM_REGDATA" "$_SWARM_RUN/exec" "$_SWARM_RUN/etc-docker" "$_SWARM_RUN/containerd" "$_SWARM_DATA"
    secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    cat > "$_SWARM_STATE/registry.yml" << EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $_SWARM_REGDATA
  delete:
    enabled: true
http:
  addr: $SWARM_REGISTRY
  secret: $secret
EOF
    setsid docker-registry serve "$_SWARM_STATE/registry.yml" > "$_SWARM_STATE/registry.log" 2>&1 < /dev/null &
    echo $! > "$_SWARM_STATE/registry.pid"
    disown $!

    # Node 2: joins its cgroups, enters the namespace, and there mounts the
    # cgroup hierarchies again (ip netns exec remounts /sys), hides the
    # host's /etc/docker (else it takes the host engine's identity) and
    # /run/containerd (else it uses the host's containerd and shims), then
    # starts the registry's second process and dockerd. Its mounts live in
    # its mount namespace only, and go with its last process.
    {
        echo 'set -e'
        for mp in $(_swarm_cg_dirs); do echo "echo \$\$ > $mp/$_SWARM_NS/cgroup.procs"; done
        echo "exec ip netns exec $_SWARM_NS unshare --uts --mount --propagation private sh $_SWARM_RUN/inside.sh"
    } > "$_SWARM_RUN/start.sh"
    {
        echo 'set -e'
        echo 'mount -t tmpfs -o mode=755 tfnode2-cgroup /sys/fs/cgroup'
        awk '$2 ~ "^/sys/fs/cgroup/" && ($3 == "cgroup" || $3 == "cgroup2") {
            n = split($4, o, ","); opts = ""
            for (i = 1; i <= n; i++) if (o[i] !~ /^release_agent=/) opts = opts (opts == "" ? "" : ",") o[i]
            printf "mkdir -p %s && mount -t %s -o %s %s %s\n", $2, $3, opts, $1, $2 }' /proc/self/mounts
        [ -d /etc/docker ] && echo "mount --bind $_SWARM_RUN/etc-docker /etc/docker"
        [ -d /run/containerd ] && echo "mount --bind $_SWARM_RUN/containerd /run/containerd"
        echo "hostname $_SWARM_NS"
        echo "docker-registry serve $_SWARM_STATE/registry.yml > $_SWARM_RUN/registry.log 2>&1 &"
        echo "exec dockerd --data-root $_SWARM_DATA --exec-root $_SWARM_RUN/exec" \
            "--pidfile $_SWARM_RUN/docker.pid -H $SWARM_NODE2_HOST --cgroup-parent /$_SWARM_NS"
    } > "$_SWARM_RUN/inside.sh"
    setsid sh "$_SWARM_RUN/start.sh" > "$_SWARM_RUN/dockerd.log" 2>&1 < /dev/null &
    disown $!

    _swarm_wait 10 curl -sf -m 1 "http://$SWARM_REGISTRY/v2/" ||
        { _swarm_err "the registry does not answer on $SWARM_REGISTRY: $(tail -n 3 "$_SWARM_STATE/registry.log")"; return 1; }
    _swarm_wait 30 swarm_docker2 version ||
        { _swarm_err "node 2's engine does not answer: $(tail -n 3 "$_SWARM_RUN/dockerd.log" | tr '\n' ' ')"; return 1; }
    _swarm_wait 10 ip netns exec "$_SWARM_NS" curl -sf -m 1 "http://$SWARM_REGISTRY/v2/" ||
        { _swarm_err "the registry does not answer on node 2: $(tail -n 3 "$_SWARM_RUN/registry.log")"; return 1; }

    # The swarm: the host's engine its manager, heartbeats every second so a
    # lost node is Down within about 3 s. Without IPVS the routing mesh
    # cannot work: its network goes, so that a service publishing a port in
    # ingress mode fails at once instead of being unreachable, and leaving
    # the swarm waits for no ingress sandbox (that once took over 5 s).
    _swarm_mark host-swarm
    docker swarm init --advertise-addr "$SWARM_NODE1_ADDR" --listen-addr "$SWARM_NODE1_ADDR:2377" \
        --data-path-addr "$SWARM_NODE1_ADDR" --default-addr-pool "$_SWARM_POOL" > "$_SWARM_STATE/init.log" 2>&1 ||
        { _swarm_err "docker swarm init failed: $(tail -n 2 "$_SWARM_STATE/init.log" | tr '\n' ' ')"; return 1; }
    SWARM_NODE1_ID=$(docker info --format '{{.Swarm.NodeID}}')
    _swarm_mark node1-id "$SWARM_NODE1_ID"
    docker swarm update --dispatcher-heartbeat 1s > /dev/null || { _swarm_err "docker swarm update failed"; return 1; }
    docker network inspect --format '{{.ID}}' ingress > "$_SWARM_STATE/ingress-id" 2> /dev/null
    printf 'y\n' | docker network rm ingress > /dev/null 2>&1
    _swarm_wait 10 _swarm_no_network ingress || { _swarm_err "the ingress network stays"; return 1; }
    token=$(docker swarm join-token -q worker) || { _swarm_err "no join token"; return 1; }
    swarm_docker2 swarm join --token "$token" --advertise-addr "$SWARM_NODE2_ADDR" \
        --listen-addr "$SWARM_NODE2_ADDR:2377" "$SWARM_NODE1_ADDR:2377" > "$_SWARM_STATE/join.log" 2>&1 ||
        { _swarm_err "node 2 cannot join: $(tail -n 2 "$_SWARM_STATE/join.log" | tr '\n' ' ')"; return 1; }
    SWARM_NODE2_ID=$(swarm_docker2 info --format '{{.Swarm.NodeID}}')
    _swarm_wait 20 _swarm_node_ready "$SWARM_NODE2_ID" || { _swarm_err "node 2 is not Ready after 20 s"; return 1; }
    docker node update --label-add "$SWARM_LABEL=1" "$SWARM_NODE1_ID" > /dev/null &&
        docker node update --label-add "$SWARM_LABEL=2" "$SWARM_NODE2_ID" > /dev/null ||
        { _swarm_err "cannot label the nodes"; return 1; }
    export SWARM_NODE1_ID SWARM_NODE2_ID
    _swarm_say "up in $(_swarm_secs "$t0") s: node 1 $SWARM_NODE1_ID at $SWARM_NODE1_ADDR, node 2 $SWARM_NODE2_ID at $SWARM_NODE2_ADDR, registry $SWARM_REGISTRY"
    return 0
}

# swarm_cut_node2: node 2's link drops every packet, both ways, where it
# arrives (the raw table's PREROUTING on either end): senders get no RST,
# no ICMP and no local error, as if node 2 had lost power.
swarm_cut_node2() {
    local -
    set +e
    iptables -w -t raw -I PREROUTING -i "$_SWARM_VETH_HOST" -j DROP &&
        ip netns exec "$_SWARM_NS" iptables -w -t raw -I PREROUTING -i "$_SWARM_VETH_NODE" -j DROP
}

# _swarm_cg_pids: the processes in node 2's cgroups (any hierarchy), and
# any other process whose cgroup is node 2's or below.
_swarm_cg_pids() {
    local mp
    for mp in $(_swarm_cg_dirs); do
        [ -d "$mp/$_SWARM_NS" ] && find "$mp/$_SWARM_NS" -name cgroup.procs -exec cat {} + 2> /dev/null
    done
    grep -lE "^[0-9]+:[^:]*:/$_SWARM_NS(/|\$)" /proc/[0-9]*/cgroup 2> /dev/null | awk -F/ '{print $3}'
}

# swarm_kill_node2: kills node 2's every process (dockerd, containerd, the
# shims, the containers, its registry) at once: frozen first, so none
# reacts to another's death.
swarm_kill_node2() {
    local - fz=/sys/fs/cgroup/freezer/$_SWARM_NS pids
    set +e
    [ -d "$fz" ] || return 0
    echo FROZEN > "$fz/freezer.state"
    _swarm_wait 5 grep -qx FROZEN "$fz/freezer.state"
    pids=$(_swarm_cg_pids | sort -u)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2> /dev/null
    echo THAWED > "$fz/freezer.state"
    _swarm_wait 10 _swarm_node2_dead || { _swarm_err "node 2 still has processes: $(_swarm_cg_pids | sort -u | tr '\n' ' ')"; return 1; }
}
_swarm_node2_dead() { [ -z "$(_swarm_cg_pids)" ]; }

# _swarm_cmdline PID: its command line, words separated by spaces.
_swarm_cmdline() { { tr '\0' ' ' < "/proc/$1/cmdline"; } 2> /dev/null; }
# _swarm_our_pid PID PATTERN: whether PID runs with PATTERN in its command line.
_swarm_our_pid() { [ -n "$1" ] && _swarm_cmdline "$1" | grep -qF -- "$2"; }

# swarm_down: removes every trace of the bed; safe twice, after a partial
# swarm_up, or for a run that died. It runs in a session of its own, deaf
# to SIGINT and SIGTERM: the signals that end a test (a ^C, meson's timeout,
# sent to the test's process group, SIGKILL included) do not cut it short.
# It removes only a bed swarm_up got to make; SWARM_DOWN_ANYWAY=1 removes
# whatever has the bed's names, record or not (by hand, after an accident).
swarm_down() {
    local - saved
    set +e
    saved=$(trap -p INT TERM)
    trap '' INT TERM
    # shellcheck disable=SC2016 # the new shell expands it
    _SWARM_SELF=$(_swarm_me) setsid -w bash -c 'source "$1" && _swarm_down' swarm_down "$_SWARM_LIB"
    SWARM_NODE1_ID=
    SWARM_NODE2_ID=
    eval "${saved:-trap - INT TERM}"
    return 0
}

_swarm_down() {
    local t0 pid mp n p nets=''
    t0=$(_swarm_us)
    if _swarm_busy 2> /dev/null; then
        _swarm_say "the bed belongs to another live run ($(_swarm_owner)): left alone"
        return 0
    fi
    # Nothing made (a swarm_up that found something in its way, or a
    # second call): nothing to remove but the record.
    if ! _swarm_marked made && [ "${SWARM_DOWN_ANYWAY:-}" != 1 ]; then
        rm -rf "$_SWARM_STATE"
        return 0
    fi

    # Node 2 first, all at once; its namespaces and mounts go with it.
    swarm_kill_node2
    for pid in $(ip netns pids "$_SWARM_NS" 2> /dev/null); do kill -KILL "$pid" 2> /dev/null; done
    pid=$(cat "$_SWARM_STATE/registry.pid" 2> /dev/null)
    if _swarm_our_pid "$pid" "$_SWARM_STATE/registry.yml"; then
        kill -TERM "$pid" 2> /dev/null
        _swarm_wait 5 _swarm_gone "$pid" || kill -KILL "$pid" 2> /dev/null
    fi

    # The host's engine: out of the swarm, with the bridge and networks the
    # swarm made and what task containers and images of ours it still has.
    # One being restarted (another suite's self-healing test) is waited for.
    if _swarm_marked host-swarm; then
        _swarm_wait 60 docker version
        n=$(docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null)
        # A killed `docker swarm init` may still be finishing in the engine.
        [ "$n" = inactive ] && sleep 0.5 && n=$(docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null)
        if [ "$n" != inactive ]; then
            nets=$(docker network ls -q --no-trunc --filter driver=overlay 2> /dev/null)
            # The manager's connections to a node that vanished without a
            # word would hold its shutdown for 8 s: they are closed first.
            ss -K dst "$SWARM_NODE2_ADDR" > /dev/null 2>&1
            for _ in 1 2 3; do
                docker swarm leave --force > /dev/null 2>&1
                _swarm_wait 1 _swarm_inactive && break
            done
            _swarm_inactive || _swarm_err "the host's engine does not leave the swarm"
        fi
        n=$(cat "$_SWARM_STATE/node1-id" 2> /dev/null)
        if [ -n "$n" ]; then
            # shellcheck disable=SC2046
            docker rm -f $(docker ps -aq --filter "label=com.docker.swarm.node.id=$n") > /dev/null 2>&1
        fi
        _swarm_wait 10 _swarm_no_network ingress || _swarm_err "the ingress network stays"
        _swarm_wait 10 _swarm_rm_gwbridge || _swarm_err "docker_gwbridge cannot be removed"
        # The engine leaves the files its swarm sandboxes were mounted on.
        for n in $nets $(cat "$_SWARM_STATE/ingress-id" 2> /dev/null); do
            for p in "$_SWARM_ENGINE_NETNS"/[0-9]*-"${n:0:10}" "$_SWARM_ENGINE_NETNS"/lb_"${n:0:10}"*; do
                _swarm_rm_sandbox_file "$p"
            done
        done
        _swarm_rm_sandbox_file "$_SWARM_ENGINE_NETNS/ingress_sbox"
    fi
    # shellcheck disable=SC2046
    docker image rm -f $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$SWARM_REGISTRY/*" 2> /dev/null |
        sed 's/:<none>$//') > /dev/null 2>&1
    # shellcheck disable=SC2046
    docker image rm -f $(docker image ls --digests --format '{{.Repository}}@{{.Digest}}' "$SWARM_REGISTRY/*" 2> /dev/null) > /dev/null 2>&1

    # The link and namespace, the cut's rule, the cgroups, the files.
    while iptables -w -t raw -D PREROUTING -i "$_SWARM_VETH_HOST" -j DROP 2> /dev/null; do :; done
    ip netns del "$_SWARM_NS" 2> /dev/null
    ip link del "$_SWARM_VETH_HOST" 2> /dev/null
    for mp in $(_swarm_cg_dirs); do
        [ -d "$mp/$_SWARM_NS" ] || continue
        _swarm_wait 5 find "$mp/$_SWARM_NS" -depth -type d -exec rmdir {} + ||
            _swarm_err "the cgroup $mp/$_SWARM_NS cannot be removed"
    done
    awk -v a="$_SWARM_RUN" -v b="$_SWARM_DATA" -v c="$_SWARM_STATE" -v d="$_SWARM_REGDATA" \
        '$2 == a || $2 == b || $2 == c || $2 == d || index($2, a "/") == 1 || index($2, b "/") == 1 ||
         index($2, c "/") == 1 || index($2, d "/") == 1 {print $2}' /proc/self/mounts |
        sort -r | xargs -r -n1 umount -l 2> /dev/null
    rm -rf "$_SWARM_RUN" "$_SWARM_DATA" "$_SWARM_REGDATA"
    if _swarm_marked netns-mount-ours && [ -z "$(ls -A /run/netns 2> /dev/null)" ]; then
        umount /run/netns 2> /dev/null
        rmdir /run/netns 2> /dev/null
    fi
    rm -rf "$_SWARM_STATE"
    _swarm_say "down in $(_swarm_secs "$t0") s"
    return 0
}
_swarm_inactive() { [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null)" = inactive ]; }
_swarm_gone() { ! kill -0 "$1" 2> /dev/null; }
_swarm_rm_sandbox_file() {
    [ -f "$1" ] && [ ! -s "$1" ] && ! mountpoint -q "$1" && rm -f "$1"
}
_swarm_no_network() { ! docker network inspect "$1" > /dev/null 2>&1; }
_swarm_rm_gwbridge() {
    docker network inspect docker_gwbridge > /dev/null 2>&1 || return 0
    docker network rm docker_gwbridge > /dev/null 2>&1
}

# swarm_traces: every trace of the bed that is left, one per line; nothing
# when there is none (after swarm_down, in a run that owns no bed).
swarm_traces() {
    local mp p
    [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2> /dev/null)" = inactive ] ||
        echo "host engine in swarm mode"
    for p in docker_gwbridge ingress; do
        docker network inspect "$p" > /dev/null 2>&1 && echo "network $p"
    done
    ip netns list 2> /dev/null | grep -qw "$_SWARM_NS" && echo "netns $_SWARM_NS"
    ip -o link show 2> /dev/null | awk -F': ' '{print $2}' | grep -E '^tfn2' | sed 's/^/link /'
    ip -4 -o addr show 2> /dev/null | grep -qF " $SWARM_NODE1_ADDR/" && echo "address $SWARM_NODE1_ADDR"
    iptables -w -t raw -S PREROUTING 2> /dev/null | grep -F -- "-i $_SWARM_VETH_HOST " | sed 's/^/iptables /'
    for mp in $(_swarm_cg_dirs); do [ -e "$mp/$_SWARM_NS" ] && echo "cgroup $mp/$_SWARM_NS"; done
    for p in $(_swarm_cg_pids | sort -u); do echo "process $p in node 2's cgroup: $(_swarm_cmdline "$p")"; done
    for p in /proc/[0-9]*; do
        _swarm_cmdline "${p#/proc/}" | grep -qE -- "$_SWARM_STATE/|$_SWARM_RUN|$_SWARM_DATA|$_SWARM_REGDATA" &&
            echo "process ${p#/proc/}: $(_swarm_cmdline "${p#/proc/}")"
    done
    [ -e "$_SWARM_ENGINE_NETNS/ingress_sbox" ] && echo "file $_SWARM_ENGINE_NETNS/ingress_sbox"
    grep -E " ($_SWARM_RUN|$_SWARM_DATA|$_SWARM_STATE|$_SWARM_REGDATA)[ /]" /proc/self/mounts | sed 's/^/mount /'
    [ -z "$(ls -A /run/netns 2> /dev/null)" ] && grep -q ' /run/netns ' /proc/self/mounts &&
        echo "mount /run/netns (empty)"
    for p in "$_SWARM_RUN" "$_SWARM_DATA" "$_SWARM_STATE" "$_SWARM_REGDATA"; do
        [ -e "$p" ] && echo "directory $p"
    done
    docker image ls --format 'image {{.Repository}}:{{.Tag}}' "$SWARM_REGISTRY/*" 2> /dev/null
    docker ps -a --format 'container {{.Names}}' --filter label=com.docker.swarm.service.id 2> /dev/null
    return 0
}

# swarm_image NAME COMMAND: a test image FROM scratch holding a static
# busybox (sh and every applet by their /bin/busybox name), whose command is
# `sh -c COMMAND`, pushed to the registry as NAME; prints the name services
# must use, by digest: 127.0.0.1:5231/NAME@sha256:...
swarm_image() {
    local - name=$1 cmd=$2 d ref out
    set +e
    d=$(mktemp -d /tmp/tfswarm-image.XXXXXX)
    mkdir -p "$d/root/bin" "$d/root/tmp" "$d/root/www"
    cp /bin/busybox "$d/root/bin/busybox" && ln -s busybox "$d/root/bin/sh"
    tar -C "$d/root" -cf "$d/root.tar" . || { rm -rf "$d"; return 1; }
    ref=$SWARM_REGISTRY/$name:latest
    cmd=$(printf '%s' "$cmd" | sed 's/\\/\\\\/g; s/"/\\"/g')
    if ! out=$(docker import --change "CMD [\"/bin/sh\", \"-c\", \"$cmd\"]" "$d/root.tar" "$ref" 2>&1) ||
        ! out=$(docker push "$ref" 2>&1); then
        rm -rf "$d"
        _swarm_err "image $ref: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
        return 1
    fi
    rm -rf "$d"
    docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" |
        grep -m1 "^$SWARM_REGISTRY/$name@sha256:"
}

# swarm_tasks SERVICE: the service's tasks that are to run and do, one per
# line: TASK_ID NODE_ID NODE_ADDR PUBLISHED_PORT CONTAINER_ID (the first
# published port; "-" when none). A lost node's tasks stay listed until the
# manager has replaced them.
swarm_tasks() {
    local id node state cid port addr
    # shellcheck disable=SC2046
    docker inspect --type task --format \
        '{{.ID}} {{.NodeID}} {{.Status.State}} {{.Status.ContainerStatus.ContainerID}} {{range .Status.PortStatus.Ports}}{{.PublishedPort}} {{end}}' \
        $(docker service ps -q --no-trunc --filter desired-state=running "$1" 2> /dev/null) 2> /dev/null |
        while read -r id node state cid port _; do
            [ "$state" = running ] || continue
            addr=$(docker node inspect --format '{{.Status.Addr}}' "$node" 2> /dev/null)
            echo "$id $node $addr ${port:--} $cid"
        done
}

# swarm_node_state NODE_ID: ready, down, unknown or disconnected.
swarm_node_state() { docker node inspect --format '{{.Status.State}}' "$1" 2> /dev/null; }

# swarm_logs: the ends of node 2's and the registry's logs, for a failure.
swarm_logs() {
    local f
    for f in "$_SWARM_RUN/dockerd.log" "$_SWARM_RUN/registry.log" "$_SWARM_STATE/registry.log"; do
        [ -s "$f" ] || continue
        echo "--- $f (tail) ---"
        tail -n 30 "$f"
    done
}
