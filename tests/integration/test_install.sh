#!/usr/bin/env bash
# meson install into a temporary root (--destdir): the files it puts in
# place, the systemd unit as systemd-analyze reads it, the installed daemon
# run with no --runtime-dir or --shim flag deploying and calling a function,
# and its log lines when stderr is the journal.
#
#   test_install.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"
# systemd-analyze is this test's need: a gateway has systemd, a build
# container may not.
if ! command -v systemd-analyze > /dev/null; then
    source "$SRC/scripts/lib.sh"
    TINYFAAS_PACKAGES=systemd tf_install_packages ||
        { echo "FAIL systemd-analyze is missing and cannot be installed"; exit 1; }
fi
BUILD=$(dirname "$DAEMON")
DEST=$T/root

# option NAME: a meson option of the build dir.
option() {
    meson introspect "$BUILD" --buildoptions | python3 -c '
import json, sys
print(*[o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]])' "$1"
}

# installed DIR_OPTION: where that folder is, as the unit and the daemon see it.
installed() {
    local dir
    dir=$(option "$1")
    case $dir in /*) echo "$dir" ;; *) echo "$PREFIX/$dir" ;; esac
}

# --- the files ------------------------------------------------------------
timeout 120 meson install -C "$BUILD" --destdir "$DEST" --no-rebuild --quiet > "$T/install.out" 2>&1
check "meson install: exit status" 0 "$?"
PREFIX=$(option prefix)
BIN=$(installed bindir)
SHIM_DIR=$(installed libexecdir)/tinyfaas
RECIPES=$(installed datadir)/tinyfaas/runtimes
UNIT_DIR=$(option systemdunitdir)
[ -n "$UNIT_DIR" ] || UNIT_DIR=$PREFIX/lib/systemd/system
UNIT=$DEST$UNIT_DIR/tinyfaas.service
TINYFAAS=$DEST$BIN/tinyfaas

for f in "$BIN/tinyfaas" "$BIN/tinyfaas-cli" "$SHIM_DIR/tinyfaas-shim"; do
    check "installed, executable: $f" yes "$([ -x "$DEST$f" ] && echo yes || echo no)"
done
# The runtime images are named by a hash of these bytes: the same bytes
# reuse the images a build made.
check_file "installed shim" "$BUILD/runtimes/tinyfaas-shim" "$DEST$SHIM_DIR/tinyfaas-shim"
check_file "installed libtinyfaas-c.a" "$BUILD/runtimes/libtinyfaas-c.a" \
    "$DEST$SHIM_DIR/libtinyfaas-c.a"
check "installed recipes: as in the source tree" "" \
    "$(diff -r -x shim -x meson.build "$SRC/runtimes" "$DEST$RECIPES" 2>&1)"
check "tinyfaas-cli --help: exit status" 0 \
    "$(timeout 10 "$DEST$BIN/tinyfaas-cli" --help > /dev/null 2>&1; echo $?)"

# --- the unit -------------------------------------------------------------
# Type=notify: the daemon says when it serves (sd_notify's datagram).
check "unit: Type" "Type=notify" "$(grep '^Type=' "$UNIT")"
check "unit: ExecStart" "ExecStart=$BIN/tinyfaas --state-dir \${STATE_DIRECTORY}" \
    "$(grep '^ExecStart=' "$UNIT")"
check "unit: state dir" "StateDirectory=tinyfaas" "$(grep '^StateDirectory=' "$UNIT")"
check "unit: restarts on failure" "Restart=on-failure" "$(grep '^Restart=' "$UNIT")"
# A mount namespace of its own would hide the handlers' socket mounts from
# the Docker engine (the comment in the unit says why).
check "unit: no directive that makes a mount namespace" "" \
    "$(grep -E '^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|ExecPaths|NoExecPaths|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ProcSubset|BindPaths|BindReadOnlyPaths|TemporaryFileSystem|RootDirectory|RootImage|MountFlags|PrivateUsers|DynamicUser|MountAPIVFS)=' "$UNIT")"
# systemd-analyze checks that ExecStart's program exists, and under
# --destdir it is not yet where the unit says: the copy it reads names the
# installed program where it is; every other line is the installed unit's.
sed "s|^ExecStart=$BIN/|ExecStart=$DEST$BIN/|" "$UNIT" > "$T/tinyfaas.service"
out=$(timeout 60 systemd-analyze verify "$T/tinyfaas.service" 2>&1)
check "systemd-analyze verify: exit status" 0 "$?"
check "systemd-analyze verify: no complaint" "" "$out"

# --- the installed daemon, with its own recipes and shim ------------------
# The service manager's end of sd_notify: each datagram a line, until
# STOPPING=1, or 240 s without one. Killed at cleanup, as load generators are.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(240)
with open(sys.argv[2], "w") as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg + "\n")
        out.flush()
        if msg == "STOPPING=1":
            break
' "$T/notify" "$T/notified" &
LISTENER=$!
LOAD_PIDS+=("$LISTENER")
for _ in $(seq 50); do [ -S "$T/notify" ] && break; sleep 0.1; done
DAEMON=$TINYFAAS
NOTIFY_SOCKET=$T/notify it_start_daemon
runtimes=$(for conf in "$SRC"/runtimes/*/runtime.conf; do basename "$(dirname "$conf")"; done |
    LC_ALL=C sort | paste -sd, - | sed 's/,/, /g')
check "installed daemon: its recipes" 1 \
    "$(grep -cF " info runtimes: $runtimes (recipes in $DEST$RECIPES)" "$LOG")"
mkfn "$T/fn" 'printf "installed: %s" "$(cat)"'
zipdir "$T/fn" "$T/fn.zip"
deploy_ok echo 1 "$T/fn.zip"
call echo --data-binary hello
check "installed daemon: call status" 200 "$CODE"
check "installed daemon: call body" "installed: hello" "$(cat "$T/out")"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
check "installed daemon: exit status after SIGTERM" 0 "$?"
DAEMON_PID=
expected=$(printf 'READY=1\nSTOPPING=1')
for _ in $(seq 100); do kill -0 "$LISTENER" 2> /dev/null || break; sleep 0.1; done
kill "$LISTENER" 2> /dev/null
wait "$LISTENER" 2> /dev/null
check "sd_notify: what the service manager is told" "$expected" "$(cat "$T/notified")"

# --- the log under journald -----------------------------------------------
# JOURNAL_STREAM names stderr's device and inode: lines carry a syslog
# priority and no time stamp. Two quick runs that touch no engine.
: > "$T/journal"
stream=$(stat -c '%d:%i' "$T/journal")
JOURNAL_STREAM=$stream timeout 30 "$TINYFAAS" --purge --state-dir "$T/none" 2>> "$T/journal"
: > "$T/not-a-dir"
JOURNAL_STREAM=$stream timeout 30 "$TINYFAAS" --coap-port -1 --http-port -1 --mgmt-port -1 \
    --state-dir "$T/not-a-dir" 2>> "$T/journal"
check "journal: info and error lines" \
    "$(printf '<6>info no instance in %s: nothing to purge\n<3>error cannot use the state dir %s: Not a directory\n' "$T/none" "$T/not-a-dir")" \
    "$(cat "$T/journal")"
# Stderr elsewhere (a pipe here), the stream named is not it: stamped lines.
check "journal stream not stderr: stamped line" 1 \
    "$(JOURNAL_STREAM=$stream timeout 30 "$TINYFAAS" --purge --state-dir "$T/none" 2>&1 |
        grep -cE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z info no instance in $T/none: nothing to purge\$")"

it_finish
