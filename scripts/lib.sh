# Shared by the quick-start scripts and CI: install what tinyFaaS needs on
# Debian 12, make sure a Docker engine answers, and build. Source it.

# The default build's: Debian's shared libraries (libarchive's static archive
# with its compressors'), and the tools the tests use. A tool only one test
# needs (a browser, Prometheus, systemd-analyze, valgrind) that test
# installs itself, so the quick start brings none of them onto a gateway.
TINYFAAS_PACKAGES="gcc make meson ninja-build pkg-config libcoap3-dev libcoap3-bin
libmicrohttpd-dev libmsgpack-dev libcurl4-gnutls-dev libjansson-dev nettle-dev
libarchive-dev zlib1g-dev libbz2-dev liblzma-dev libzstd-dev libacl1-dev
docker.io busybox-static curl zip python3 iproute2 ca-certificates openssl"

tf_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

tf_say() { printf 'tinyfaas: %s\n' "$*" >&2; }

# Installs the Debian packages that are missing (nothing when all are there).
# npm (the nodejs recipe fetches the handler's msgpack library with it) counts
# as present when the command is, whichever package brought it.
tf_install_packages() {
    local missing=() p
    for p in $TINYFAAS_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    command -v npm >/dev/null || missing+=(npm)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        tf_say "missing packages: ${missing[*]}; run as root (or with sudo) to install them"
        return 1
    fi
    tf_say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt (a boot-time upgrade, a second setup) may hold the lock: wait for it.
    local wait=(-o DPkg::Lock::Timeout=600)
    apt-get "${wait[@]}" update -qq &&
        apt-get "${wait[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Starts dockerd in the background unless an engine already answers. A socket
# or pid file left by an engine that is no longer running (a machine restored
# from a snapshot keeps /run) does not count: only a live dockerd is waited for.
tf_ensure_docker() {
    docker version >/dev/null 2>&1 && return 0
    local log=/var/log/tinyfaas-dockerd.log
    if pgrep -x dockerd >/dev/null; then
        tf_say "waiting for the Docker engine"
    elif [ "$(id -u)" -ne 0 ]; then
        tf_say "no Docker engine answers; start dockerd as root (or run this as root)"
        return 1
    else
        tf_say "starting dockerd (log: $log)"
        rm -f /var/run/docker.pid
        nohup dockerd >"$log" 2>&1 &
    fi
    local i
    for i in $(seq 1 120); do
        docker version >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    tf_say "the Docker engine does not answer after 60 s; the end of $log:"
    tail -n 20 "$log" >&2 2>/dev/null
    return 1
}

# Configures (once) and builds DIR with the extra meson options given.
tf_build() {
    local dir=$1
    shift
    local root
    root=$(tf_root)
    # meson and ninja say why they failed on stdout: shown only then. A
    # rebuilt archive (apt-get upgrade, deps/build.sh) needs no new setup:
    # ninja relinks what links it.
    local out
    if [ ! -f "$root/$dir/build.ninja" ] && ! out=$(meson setup "$root/$dir" "$root" "$@" 2>&1); then
        printf '%s\n' "$out" | tail -n 5 >&2
        tf_say "configuring $dir failed"
        return 1
    fi
    if ! out=$(ninja -C "$root/$dir" 2>&1); then
        printf '%s\n' "$out" | tail -n 30 >&2
        tf_say "building $dir failed"
        return 1
    fi
}

# Everything before running: packages, engine, libraries, the release build in build/.
tf_setup() {
    tf_install_packages && tf_ensure_docker && tf_build build
}
