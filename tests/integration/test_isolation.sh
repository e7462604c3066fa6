#!/usr/bin/env bash
# What a handler container may do, seen from inside it: not root, no
# capabilities, no new privileges, a read-only root with a writable /tmp, no
# way to fill the host's disk, a memory bound (the default, or the upload's
# memory_mb), a CPU bound (cpus), and no way to reach another function's
# handlers, over either handler transport. Bad limits are refused and make
# nothing.
#
#   test_isolation.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
it_start_daemon

# probe NAME SCRIPT [LIMITS_JSON_MEMBERS]: deploys a binary function running SCRIPT.
probe() {
    mkfn "$T/$1" "$2"
    zipdir "$T/$1" "$T/$1.zip"
    printf '{"name":"%s","env":"binary","threads":1,"zip":"%s"%s}' "$1" \
        "$(base64 -w0 "$T/$1.zip")" "${3:+,$3}" > "$T/up.json"
    mgmt POST /upload --data-binary "@$T/up.json"
    check "deploy $1" 200 "$CODE"
}

container_of() { docker ps -q --filter "label=tinyfaas.instance=$IID" --filter "label=tinyfaas.function=$1" | head -1; }

# --- 1. privileges and the file system -----------------------------------
probe inside 'echo "uid $(id -u) gid $(id -g)"
grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status
touch /fn/x 2>/dev/null && echo "/fn writable" || echo "/fn read-only"
touch /x 2>/dev/null && echo "/ writable" || echo "/ read-only"
echo hi > /tmp/x && cat /tmp/x'
call inside
check "inside: status" 200 "$CODE"
check "inside: what it may do" "$(printf 'uid 65534 gid 65534\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n/fn read-only\n/ read-only\nhi')" \
    "$(cat "$T/out")"

# --- 1b. the host's disk ----------------------------------------------------
# A function tries 50 MB in every writable mount but /tmp, and leaves a link
# to the engine's socket in its socket folder. What it can write there is
# memory of its own (the socket folder is a 64 KiB tmpfs, /dev/shm and
# message queues count against its memory bound), never the host's disk, and
# it all goes with it.
probe filler 'awk "\$4 ~ /^rw/ && \$2 != \"/tmp\" {print \$2, \$3}" /proc/mounts | while read -r m type; do
    dd if=/dev/zero of="$m/fill" bs=64k count=800 2>/dev/null
    [ -f "$m/fill" ] && echo "$m $type $(stat -c %s "$m/fill")"
done
ln -s /var/run/docker.sock /run/tinyfaas/docker.sock && echo linked'
used() { df -B1 --output=used "$STATE" /var/lib/docker | awk 'NR > 1 {s += $1} END {printf "%.0f\n", s}'; }
FILLER_DIR=$(docker inspect -f '{{range .Mounts}}{{.Source}}{{end}}' "$(container_of filler)")
disk_before=$(used)
call filler
disk_grew=$(($(used) - disk_before))
echo "# host disk grew by $disk_grew bytes while the function wrote: $(tr '\n' ' ' < "$T/out")"
check "filler: status" 200 "$CODE"
check "filler: where it could write, and how much" \
    "$(printf '/dev/mqueue mqueue 80\n/dev/shm tmpfs 52428800\n/run/tinyfaas tmpfs 65536\nlinked')" "$(cat "$T/out")"
check "filler: the host's disk grew by at most 1 MB" yes \
    "$([ "$disk_grew" -le 1048576 ] && echo yes || echo "no: $disk_grew bytes")"
mgmt POST /delete --data-binary filler
check "filler: deleted" 200 "$CODE"
check "filler: its socket folder is gone, link and all" "gone unmounted" \
    "$([ -e "$FILLER_DIR" ] || echo -n gone) $(grep -qF " $FILLER_DIR " /proc/mounts || echo unmounted)"

# --- 2. memory and CPU bounds ---------------------------------------------
check "default memory bound: 128 MiB" 134217728 \
    "$(docker inspect -f '{{.HostConfig.Memory}}' "$(container_of inside)")"
check "default: no swap beyond it" 134217728 \
    "$(docker inspect -f '{{.HostConfig.MemorySwap}}' "$(container_of inside)")"
check "pids bound" 256 "$(docker inspect -f '{{.HostConfig.PidsLimit}}' "$(container_of inside)")"
# cgroup v2 names the bounds memory.max and cpu.max; v1 splits them.
probe bounded 'if [ -e /sys/fs/cgroup/memory.max ]; then
    cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max
else
    cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
fi' '"memory_mb":64,"cpus":0.5'
call bounded
check "memory_mb and cpus, seen in the cgroup" "$(printf '67108864\n50000 100000')" "$(cat "$T/out")"

# --- 3. one function cannot reach another's handlers ----------------------
# With the unix transport (the default here) a handler listens on a socket in
# a folder of its own, mounted into its container alone, and on no port.
probe looker 'ls -A /run/tinyfaas; nc -w 2 127.0.0.1 8000 < /dev/null > /dev/null 2>&1 && echo "port 8000 open" || echo "no port"'
call looker
check "unix transport: a handler sees its own socket only, and listens on no port" \
    "$(printf 'handler.sock\nno port')" "$(cat "$T/out")"
check "unix transport: one socket folder per handler on the host" \
    "$(docker ps -q --filter "label=tinyfaas.instance=$IID" | wc -l)" "$(ls "$STATE/sockets" | wc -l)"

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
check "the socket folders go with the daemon" 0 "$(ls "$STATE/sockets" | wc -l)"

# A state dir too deep for a socket's 107-byte path means TCP, said in the log.
SHALLOW=$STATE
STATE=$T/$(printf 'deep%.0s' $(seq 20))
it_start_daemon
check "a deep state dir: TCP, and why" \
    "the state dir $STATE is too deep for handler sockets: handlers are reached over TCP" \
    "$(grep -o 'the state dir .* over TCP' "$LOG")"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
STATE=$SHALLOW
"$DAEMON" --handler-transport udp > /dev/null 2> "$T/err"
check "--handler-transport udp: refused" "tinyfaas: the handler transport is unix or tcp, not 'udp'" \
    "$(head -1 "$T/err")"

# Over TCP (an engine on another machine), each function has a network of
# its own: a daemon with that transport shows it.
it_start_daemon --handler-transport tcp
ip_of() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(container_of "$1")"; }
probe inside 'cat'
OTHER_IP=$(ip_of inside)
# busybox nc exits 1 when it cannot connect; connected, the handler sends
# READY and nc quits when the input ends.
probe reacher 'read ip; nc -w 2 "$ip" 8000 < /dev/null > /dev/null 2>&1 && echo reached || echo unreachable'
call reacher --data-binary "$OTHER_IP"
check "tcp transport: another function's handler unreachable" unreachable "$(cat "$T/out")"
# The same probe does reach a handler on its own network: the test can fail.
call reacher --data-binary "$(ip_of reacher)"
check "tcp transport: its own handler reachable" reached "$(cat "$T/out")"

# --- 4. bad limits: 400, nothing made --------------------------------------
before=$(counts)
bad_limit() {
    mkfn "$T/b" 'cat'
    zipdir "$T/b" "$T/b.zip"
    printf '{"name":"badlimit","env":"binary","threads":1,"zip":"%s",%s}' \
        "$(base64 -w0 "$T/b.zip")" "$1" > "$T/up.json"
    mgmt POST /upload --data-binary "@$T/up.json"
    check "$1: status" 400 "$CODE"
    check "$1: reason" "$2" "$(cat "$T/body")"
}
bad_limit '"memory_mb":8' "memory_mb must be between 16 and 65536, not 8"
bad_limit '"memory_mb":1.5' '"memory_mb" must be a whole number of MiB, at most 65536'
bad_limit '"memory_mb":"64"' '"memory_mb" must be a number'
bad_limit '"cpus":-1' "cpus must be between 0.01 and 256, not -1"
bad_limit '"cpus":0.001' "cpus must be between 0.01 and 256, not 0.001"
check "bad limits made nothing" "$before" "$(counts)"

it_finish
