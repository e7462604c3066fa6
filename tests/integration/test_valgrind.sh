#!/usr/bin/env bash
# The daemon under valgrind's memcheck, through a whole life on each
# backend: deploy, calls over HTTP and CoAP, a bad upload, scale up and
# down, a redeploy, /list, /logs, /metrics, delete, a handler killed, and a
# stop. It must end with no memory error and nothing definitely or
# indirectly lost. On containers always; on a swarm of one node (loopback)
# when the engine is in no swarm, as test_swarm.sh builds it. Only for a
# build with no sanitizer (valgrind and ASan do not mix).
#
#   test_valgrind.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
if ! command -v valgrind > /dev/null; then
    source "$SRC/scripts/lib.sh"
    TINYFAAS_PACKAGES=valgrind tf_install_packages ||
        { echo "FAIL valgrind is missing and cannot be installed"; exit 1; }
fi

# The daemon through valgrind: it_start_daemon runs $DAEMON. Memcheck's
# findings make the exit status 99; "still reachable" (libraries' caches
# kept until exit) is not a finding.
REAL=$DAEMON
DAEMON=$T/vg-tinyfaas
cat > "$DAEMON" << EOF
#!/bin/sh
exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \\
    --show-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no \\
    --log-file="\$VG_LOG" "$REAL" "\$@"
EOF
chmod 755 "$DAEMON"

mkfn "$T/fn" 'read -r what; echo "ok:$what"'
zipdir "$T/fn" "$T/fn.zip"
mkfn "$T/fn2" 'read -r what; echo "v2:$what"'
zipdir "$T/fn2" "$T/fn2.zip"

# life LABEL: one life of a daemon already started, then its stop.
life() {
    check "$1: the daemon runs under memcheck" yes \
        "$(readlink "/proc/$DAEMON_PID/exe" | grep -q memcheck && echo yes)"
    deploy_ok echo 2 "$T/fn.zip"
    call echo --data-binary x
    check "$1: HTTP" "200 ok:x" "$CODE $(cat "$T/out")"
    coap echo y
    check "$1: CoAP" "ok:y" "$(cat "$T/cout")"
    deploy bad 1 /dev/null
    check "$1: a bad upload refused" 400 "$CODE"
    mgmt POST /scale --data '{"name":"echo","threads":3}'
    check "$1: scale up" 200 "$CODE"
    mgmt POST /scale --data '{"name":"echo","threads":1}'
    check "$1: scale down" 200 "$CODE"
    deploy_ok echo 2 "$T/fn2.zip"
    call echo --data-binary z
    check "$1: the new version" "200 v2:z" "$CODE $(cat "$T/out")"
    mgmt GET /list -H 'Accept: application/json'
    check "$1: list" 200 "$CODE"
    mgmt GET /logs
    check "$1: logs" 200 "$CODE"
    mgmt GET /metrics
    check "$1: metrics" 200 "$CODE"
    docker kill "$(docker ps -q --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo | head -1)" > /dev/null
    check "$1: serves after a handler was killed" yes "$(answers_within 60 echo again v2:again)"
    mgmt POST /delete --data '{"name":"echo"}'
    check "$1: delete" 200 "$CODE"
    deploy_ok echo 1 "$T/fn.zip" # left for the stop to remove
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID"
    check "$1: stop, no memory error and no leak (status 99 if any)" 0 $?
    check "$1: memcheck's report is empty" "" "$(cat "$VG_LOG")"
    DAEMON_PID=
}

export VG_LOG=$T/memcheck-docker.log
it_start_daemon
life containers

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = inactive ]; then
    trap 'rc=$?; docker swarm leave --force > /dev/null 2>&1; docker network rm docker_gwbridge > /dev/null 2>&1; (exit $rc); cleanup' EXIT
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 > /dev/null
    check "a swarm of one node" 0 $?
    export VG_LOG=$T/memcheck-swarm.log
    STATE=$T/swarm
    IID=
    TINYFAAS_BACKEND=swarm it_start_daemon
    life swarm
else
    echo "# the engine is in a swarm already: the swarm backend is not run here"
fi

it_finish
