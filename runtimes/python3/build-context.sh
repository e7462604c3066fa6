#!/usr/bin/env bash
# build-context.sh ROLE OUT_DIR: writes the Docker build context of the
# python3 runtime's base (ROLE=base) or builder (ROLE=builder) image.
#
# The root file system is made from Debian 12 packages without debootstrap:
# the dependency closure of the roots below is fetched with `apt-get download`
# (kept in $TINYFAAS_CACHE_DIR/python3-debs), each package is unpacked with
# `dpkg -x`, and what a Python program never needs at run time is pruned.
# See docs/runtimes.md for the contract and README.md beside this file for
# what the images hold.
set -euo pipefail
export LC_ALL=C

die() { echo "build-context.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: build-context.sh base|builder OUT_DIR"
ROLE=$1
OUT=$2
case "$ROLE" in base|builder) ;; *) die "unknown role '$ROLE' (base or builder)";; esac
for tool in apt-get apt-cache dpkg-deb sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found (this needs a Debian 12 host)"
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${TINYFAAS_CACHE_DIR:-${TMPDIR:-/tmp}/tinyfaas-cache}/python3-debs
mkdir -p "$OUT" "$CACHE"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/rootfs
[ ! -e "$ROOT" ] || die "$ROOT already exists (OUT_DIR must be empty)"

# --- packages ---------------------------------------------------------------

ROOTS=(python3-minimal libpython3.11-stdlib python3-msgpack)
if [ "$ROLE" = builder ]; then
    ROOTS+=(python3-pip busybox-static)
fi
# Not part of the closure: unpacked for the CA certificates (ssl, urllib) and
# the time zone database (zoneinfo); their maintainer scripts are not run.
EXTRA=(ca-certificates tzdata)

# Packages of the closure that a Python program does not need at run time.
# They come in through package-manager and shell tooling (dpkg, tar, perl,
# debconf), through extension modules the images drop on purpose (nis: the
# Kerberos/tirpc stack; _dbm: libdb; readline and _curses: ncurses), or are
# metadata only (gcc-12-base, mailcap, mime-support).
SKIP=(dpkg install-info tar libacl1 libselinux1 libpcre2-8-0 libmd0 libzstd1
perl perl-base perl-modules-5.36 libperl5.36 libgdbm-compat4 libgdbm6 libdb5.3
libnsl2 libtirpc3 libtirpc-common libgssapi-krb5-2 libk5crypto3 libkrb5-3
libkrb5support0 libkeyutils1 libcom-err2
readline-common libreadline8 libncursesw6 libtinfo6
gcc-12-base mailcap mime-support
debconf cdebconf libdebian-installer4 libnewt0.52 libslang2 libtextwrap1 openssl)

closure() {
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "${ROOTS[@]}" 2>/dev/null |
        grep -v '^[[:space:]<]' | sort -u
}

if ! apt-cache show python3-minimal >/dev/null 2>&1; then
    echo "apt knows no python3-minimal: running apt-get update"
    apt-get update -qq >/dev/null || die "apt-get update failed"
fi

PKGS=$( { closure; printf '%s\n' "${EXTRA[@]}"; } | sort -u |
        grep -vxF -f <(printf '%s\n' "${SKIP[@]}") ) || true
[ -n "$PKGS" ] || die "empty package list (apt-cache depends found nothing)"
for p in "${ROOTS[@]}"; do
    grep -qxF "$p" <<<"$PKGS" || die "apt has no package $p"
done

# Lines: 'URI' FILE SIZE SHA256:HASH, one per package, candidate versions.
# shellcheck disable=SC2086
URIS=$(apt-get download --print-uris $PKGS) || die "apt-get download --print-uris failed"
FILES=()
MISSING=()
while read -r _uri file _size hash; do
    [ -n "${file:-}" ] || continue
    FILES+=("$file")
    if [ -f "$CACHE/$file" ] &&
       [ "$(sha256sum "$CACHE/$file" | cut -d' ' -f1)" = "${hash#SHA256:}" ]; then
        continue
    fi
    MISSING+=("${file%%_*}")
done <<<"$URIS"
[ "${#FILES[@]}" -eq "$(wc -w <<<"$PKGS")" ] ||
    die "apt-get gave ${#FILES[@]} download URIs for $(wc -w <<<"$PKGS") packages"

echo "downloading ${#MISSING[@]} packages (${#FILES[@]} needed, $(( ${#FILES[@]} - ${#MISSING[@]} )) cached)"
if [ "${#MISSING[@]}" -gt 0 ]; then
    DL=$(mktemp -d "$CACHE/.download.XXXXXX")
    trap 'rm -rf "$DL"' EXIT
    ( cd "$DL" && apt-get -q -o APT::Sandbox::User=root download "${MISSING[@]}" >/dev/null ) ||
        die "apt-get download failed"
    mv -f "$DL"/*.deb "$CACHE"/
    rm -rf "$DL"
    trap - EXIT
fi
while read -r _uri file _size hash; do
    [ -n "${file:-}" ] || continue
    [ "$(sha256sum "$CACHE/$file" | cut -d' ' -f1)" = "${hash#SHA256:}" ] ||
        die "$file: checksum mismatch"
done <<<"$URIS"

# --- unpacking ----------------------------------------------------------------

# shellcheck source=../lib/rootfs.sh
source "$TINYFAAS_RUNTIME_DIR/lib/rootfs.sh"
unpack_debs "$ROOT" "$CACHE" "${FILES[@]}"

# --- pruning ------------------------------------------------------------------

echo "pruning"
PY=$ROOT/usr/lib/python3.11
[ -d "$PY" ] || die "no $PY after unpacking"
rm -rf "${ROOT:?}"/usr/share/{doc,man,info,lintian,bug,locale,binfmts,applications,pixmaps,menu} \
       "$ROOT"/usr/share/python3 "$ROOT"/usr/share/debconf \
       "$ROOT"/usr/lib/x86_64-linux-gnu/gconv \
       "$ROOT"/usr/lib/x86_64-linux-gnu/perl-base \
       "$ROOT"/usr/share/zoneinfo/right "$ROOT"/usr/share/doc-base \
       "${ROOT:?}"/var "$ROOT"/etc/cron.* "$ROOT"/etc/logrotate.d "$ROOT"/etc/init.d \
       "$ROOT"/etc/ld.so.conf.d "$ROOT"/etc/bindresvport.blacklist \
       "$ROOT"/etc/ca-certificates* "$ROOT"/usr/sbin/* \
       "$ROOT"/usr/lib/x86_64-linux-gnu/audit "$ROOT"/usr/lib/binfmt.d \
       "$ROOT"/usr/lib/valgrind
# Programs: only the interpreter (and in the builder pip and busybox).
find "$ROOT/usr/bin" -mindepth 1 \
    ! -name 'python3' ! -name 'python3.11' \
    ! -name 'pip' ! -name 'pip3' ! -name 'pip3.11' ! -name busybox \
    -exec rm -rf {} +
rm -f "$ROOT"/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so* \
      "$ROOT"/usr/lib/x86_64-linux-gnu/libmemusage.so \
      "$ROOT"/usr/lib/x86_64-linux-gnu/libpcprofile.so \
      "$ROOT"/usr/lib/x86_64-linux-gnu/libSegFault.so
# The standard library: tests, GUI and interactive tools, installers.
rm -rf "$PY"/test "$PY"/idlelib "$PY"/tkinter "$PY"/turtledemo "$PY"/turtle.py \
       "$PY"/ensurepip "$PY"/pydoc_data
find "$ROOT/usr/lib" -depth -type d \( -name __pycache__ -o -name tests -o -name test \
    -o -name idle_test \) -exec rm -rf {} +
# Extension modules whose libraries are not in the image, and test modules.
rm -f "$PY"/lib-dynload/{_dbm,nis,readline,_curses,_curses_panel}.cpython-*.so \
      "$PY"/lib-dynload/{_test,_xx,xx}*.so "$PY"/lib-dynload/_ctypes_test*.so
if [ "$ROLE" = base ]; then
    rm -rf "$PY"/lib2to3 "$PY"/distutils "$ROOT"/usr/lib/python3/dist-packages/lib2to3
fi

# The CA bundle, as update-ca-certificates would make it, for ssl and urllib.
mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/usr/lib/ssl"
find "$ROOT/usr/share/ca-certificates" -name '*.crt' | sort |
    while read -r crt; do cat "$crt"; done >"$ROOT/etc/ssl/certs/ca-certificates.crt"
[ -s "$ROOT/etc/ssl/certs/ca-certificates.crt" ] || die "no CA certificates unpacked"
rm -rf "$ROOT/usr/share/ca-certificates"
ln -sfn /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/lib/ssl/cert.pem"
ln -sfn /etc/ssl/certs "$ROOT/usr/lib/ssl/certs"

# A few files every container expects.
mkdir -p "$ROOT/tmp" "$ROOT/fn" "$ROOT/opt/tinyfaas" "$ROOT/root"
chmod 1777 "$ROOT/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' \
    >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
install -m 0644 "$HERE/handler.py" "$ROOT/opt/tinyfaas/handler.py"

if [ "$ROLE" = builder ]; then
    ln -sf busybox "$ROOT/usr/bin/sh"
    # RUN steps get the busybox applets (cp, ls, tar, wget, ...) on PATH.
    for applet in $("$ROOT/usr/bin/busybox" --list); do
        [ -e "$ROOT/usr/bin/$applet" ] || ln -s busybox "$ROOT/usr/bin/$applet"
    done
fi

echo "rootfs $(du -sm "$ROOT" | cut -f1) MB"

# --- Dockerfile ---------------------------------------------------------------

{
    echo "FROM scratch"
    echo "COPY rootfs/ /"
    echo "ENV PATH=/usr/local/bin:/usr/bin LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \\"
    echo "    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt TINYFAAS_PORT=8000 TINYFAAS_FN_DIR=/fn"
    # The daemon's context tar holds no directory entries, so an empty
    # directory such as /tmp comes from WORKDIR, which makes it if missing.
    echo "WORKDIR /tmp"
    echo "WORKDIR /fn"
    if [ "$ROLE" = base ]; then
        echo "EXPOSE 8000"
        echo 'ENTRYPOINT ["/usr/bin/python3", "-u", "/opt/tinyfaas/handler.py"]'
    else
        echo 'SHELL ["/bin/sh", "-c"]'
    fi
} >"$OUT/Dockerfile"

# Same inputs, same files: fixed times on everything written here.
find "$OUT" -exec touch -h -d @0 {} +
