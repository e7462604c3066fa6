#!/usr/bin/env bash
# build-context.sh ROLE OUT_DIR: writes the Docker build context of the
# nodejs runtime's base (ROLE=base) or builder (ROLE=builder) image.
#
# The root file system is made from Debian 12 packages without debootstrap:
# the dependency closure of the roots below is fetched with `apt-get download`
# (kept in $TINYFAAS_CACHE_DIR/nodejs-debs), each package is unpacked with
# `dpkg-deb -x`, and what a node program never needs at run time is pruned.
# The handler's msgpack library, @msgpack/msgpack, comes from the npm registry
# with `npm pack` at a pinned version and checksum (kept in
# $TINYFAAS_CACHE_DIR/nodejs-npm). See docs/runtimes.md for the contract and
# README.md beside this file for what the images hold.
set -euo pipefail
export LC_ALL=C

die() { echo "build-context.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: build-context.sh base|builder OUT_DIR"
ROLE=$1
OUT=$2
case "$ROLE" in base|builder) ;; *) die "unknown role '$ROLE' (base or builder)";; esac
for tool in apt-get apt-cache dpkg-deb sha256sum tar npm base64 openssl; do
    command -v "$tool" >/dev/null || die "$tool not found (this needs a Debian 12 host with npm)"
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${TINYFAAS_CACHE_DIR:-${TMPDIR:-/tmp}/tinyfaas-cache}
CACHE=$CACHE_ROOT/nodejs-debs
NPMCACHE=$CACHE_ROOT/nodejs-npm
mkdir -p "$OUT" "$CACHE" "$NPMCACHE"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/rootfs
[ ! -e "$ROOT" ] || die "$ROOT already exists (OUT_DIR must be empty)"

MSGPACK_VERSION=3.1.3
MSGPACK_INTEGRITY='sha512-47XIizs9XZXvuJgoaJUIE2lFoID8ugvc0jzSHP+Ptfk8nTbnR8g788wv48N03Kx0UkAv559HWRQ3yzOgzlRNUA=='

WORK=$(mktemp -d "$CACHE_ROOT/.nodejs-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# apt is asked as if nothing were installed: the versions it offers are then
# the ones its archives can download, even on a host whose installed nodejs
# came from elsewhere (a local package has no download URI). Pins and
# sources are the host's.
: >"$WORK/status"
# Its package cache, made for that empty status, is kept in $WORK so that the
# later calls reuse it.
APT=(-o "Dir::State::status=$WORK/status" -o "Dir::Cache::pkgcache=$WORK/pkgcache.bin"
     -o "Dir::Cache::srcpkgcache=$WORK/srcpkgcache.bin")

if ! apt-cache "${APT[@]}" show nodejs >/dev/null 2>&1; then
    echo "apt knows no nodejs: running apt-get update"
    apt-get update -qq >/dev/null || die "apt-get update failed"
fi
NODE_VERSION=$(apt-cache "${APT[@]}" policy nodejs | sed -n 's/^ *Candidate: //p')
case "$NODE_VERSION" in ''|'(none)') die "apt offers no nodejs package to download";; esac
# Debian's nodejs leaves npm to the npm package; a nodejs build that bundles
# npm (NodeSource's) says so with Provides: npm.
NODE_PROVIDES=$(apt-cache "${APT[@]}" show "nodejs=$NODE_VERSION" | sed -n 's/^Provides: //p' | head -n1)
BUNDLED_NPM=no
if tr ',' '\n' <<<"$NODE_PROVIDES" | grep -qE '^ *npm( |$)'; then BUNDLED_NPM=yes; fi
echo "nodejs $NODE_VERSION (npm bundled: $BUNDLED_NPM)"

# --- packages ---------------------------------------------------------------

ROOTS=(nodejs)
if [ "$ROLE" = builder ]; then
    ROOTS+=(busybox-static)
    [ "$BUNDLED_NPM" = yes ] || ROOTS+=(npm)
fi
# The builder's CA certificates (npm talks HTTPS to the registry); their
# maintainer script is not run, the bundle is made below.
EXTRA=()
[ "$ROLE" = builder ] && EXTRA+=(ca-certificates)

# Packages of the closure that node and npm do not need at run time.
# - package-manager and shell tooling: dpkg, tar, install-info, debconf and
#   its front ends, perl (pulled in by debconf and mailcap);
# - metadata only: gcc-12-base, mailcap, mime-support, media-types;
# - Debian's npm pulls in the whole node-gyp tool chain (gyp, python3,
#   libnode-dev and other -dev headers) to compile native addons. The builder
#   has no C compiler and runs `npm install --ignore-scripts`, so node-gyp is
#   never started; those packages are left out. So are the tools that come in
#   through test-coverage and bundler packages (eslint, webpack, terser,
#   handlebars) and browser copies of JavaScript libraries (libjs-*).
SKIP=(dpkg install-info tar libacl1 libselinux1 libpcre2-8-0 libmd0 libzstd1 libbz2-1.0 liblzma5
perl perl-base perl-modules-5.36 libperl5.36 libgdbm-compat4 libgdbm6 libdb5.3
debconf cdebconf libdebian-installer4 libnewt0.52 libslang2 libtextwrap1
gcc-12-base mailcap mime-support media-types
gyp python3 python3-minimal python3.11 python3.11-minimal libpython3-stdlib
libpython3.11-minimal libpython3.11-stdlib python3-pkg-resources python3-six
libexpat1 libffi8 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 readline-common
libnsl2 libtirpc3 libtirpc-common libgssapi-krb5-2 libk5crypto3 libkrb5-3
libkrb5support0 libkeyutils1 libcom-err2 libcrypt1 libuuid1
libnode-dev libuv1-dev libssl-dev openssl
eslint webpack terser handlebars)

closure() {
    apt-cache "${APT[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "${ROOTS[@]}" 2>/dev/null |
        grep -v '^[[:space:]<]' | sort -u
}

PKGS=$( { closure; printf '%s\n' "${EXTRA[@]}"; } | sed '/^$/d' | sort -u |
        grep -vxF -f <(printf '%s\n' "${SKIP[@]}") | grep -v '^libjs-' ) || true
[ -n "$PKGS" ] || die "empty package list (apt-cache depends found nothing)"
for p in "${ROOTS[@]}"; do
    grep -qxF "$p" <<<"$PKGS" || die "apt has no package $p"
done

# Lines: 'URI' FILE SIZE SHA256:HASH, one per package, candidate versions.
# shellcheck disable=SC2086
URIS=$(apt-get "${APT[@]}" download --print-uris $PKGS) || die "apt-get download --print-uris failed"
FILES=()
MISSING=()
while read -r _uri file _size hash; do
    [ -n "${file:-}" ] || continue
    FILES+=("$file")
    if [ -f "$CACHE/$file" ] &&
       [ "$(sha256sum "$CACHE/$file" | cut -d' ' -f1)" = "${hash#SHA256:}" ]; then
        continue
    fi
    MISSING+=("$(cut -d_ -f1 <<<"$file")=$(cut -d_ -f2 <<<"$file" | sed 's/%3a/:/')")
done <<<"$URIS"
[ "${#FILES[@]}" -eq "$(wc -w <<<"$PKGS")" ] ||
    die "apt-get gave ${#FILES[@]} download URIs for $(wc -w <<<"$PKGS") packages"

echo "downloading ${#MISSING[@]} packages (${#FILES[@]} needed, $(( ${#FILES[@]} - ${#MISSING[@]} )) cached)"
if [ "${#MISSING[@]}" -gt 0 ]; then
    DL=$WORK/download
    mkdir -p "$DL"
    ( cd "$DL" && apt-get "${APT[@]}" -q -o APT::Sandbox::User=root download "${MISSING[@]}" >/dev/null ) ||
        die "apt-get download failed"
    mv -f "$DL"/*.deb "$CACHE"/
fi
while read -r _uri file _size hash; do
    [ -n "${file:-}" ] || continue
    [ "$(sha256sum "$CACHE/$file" | cut -d' ' -f1)" = "${hash#SHA256:}" ] ||
        die "$file: checksum mismatch"
done <<<"$URIS"

# --- @msgpack/msgpack from the npm registry -----------------------------------

TGZ=$NPMCACHE/msgpack-msgpack-$MSGPACK_VERSION.tgz
tgz_ok() {
    [ -f "$TGZ" ] &&
    [ "sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)" = "$MSGPACK_INTEGRITY" ]
}
if tgz_ok; then
    echo "@msgpack/msgpack $MSGPACK_VERSION cached"
else
    echo "fetching @msgpack/msgpack $MSGPACK_VERSION with npm pack"
    mkdir -p "$WORK/npm"
    ( cd "$WORK/npm" && npm pack --silent --cache "$WORK/npm/.cache" --pack-destination "$WORK/npm" \
        "@msgpack/msgpack@$MSGPACK_VERSION" >/dev/null ) || die "npm pack @msgpack/msgpack@$MSGPACK_VERSION failed"
    mv -f "$WORK/npm/msgpack-msgpack-$MSGPACK_VERSION.tgz" "$TGZ"
    tgz_ok || { rm -f "$TGZ"; die "@msgpack/msgpack $MSGPACK_VERSION: checksum mismatch"; }
fi

# --- unpacking ----------------------------------------------------------------

# shellcheck source=../lib/rootfs.sh
source "$TINYFAAS_RUNTIME_DIR/lib/rootfs.sh"
unpack_debs "$ROOT" "$CACHE" "${FILES[@]}"
[ -x "$ROOT/usr/bin/node" ] || die "no /usr/bin/node after unpacking"

# The handler and its msgpack library: only the CommonJS build is loaded.
MP=$ROOT/opt/tinyfaas/node_modules/@msgpack/msgpack
mkdir -p "$MP" "$WORK/msgpack"
tar -xzf "$TGZ" -C "$WORK/msgpack"
install -m 0644 "$WORK/msgpack/package/package.json" "$WORK/msgpack/package/LICENSE" "$MP/"
( cd "$WORK/msgpack/package" && find dist.cjs -type f -name '*.cjs' | sort ) | while read -r f; do
    install -D -m 0644 "$WORK/msgpack/package/$f" "$MP/$f"
done
install -m 0644 "$HERE/handler.js" "$ROOT/opt/tinyfaas/handler.js"

# --- pruning ------------------------------------------------------------------

echo "pruning"
LIB=$ROOT/usr/lib/x86_64-linux-gnu
rm -rf "${ROOT:?}"/usr/share/{doc,man,info,lintian,bug,locale,binfmts,applications,pixmaps,menu,doc-base,gdb} \
       "$ROOT"/usr/share/debconf "$ROOT"/usr/include "$ROOT"/usr/share/systemtap \
       "$LIB"/gconv "$LIB"/audit "$LIB"/perl-base "$ROOT"/usr/lib/binfmt.d \
       "${ROOT:?}"/var "$ROOT"/etc/cron.* "$ROOT"/etc/logrotate.d "$ROOT"/etc/init.d \
       "$ROOT"/etc/ld.so.conf.d "$ROOT"/etc/bindresvport.blacklist \
       "$ROOT"/etc/ca-certificates* "$ROOT"/usr/sbin/* "$ROOT"/usr/lib/valgrind
rm -f "$LIB"/libc_malloc_debug.so* "$LIB"/libmemusage.so "$LIB"/libpcprofile.so "$LIB"/libSegFault.so
# ICU's I/O, tool and test libraries: node links libicuuc and libicui18n only.
rm -f "$LIB"/libicuio.so* "$LIB"/libicutu.so* "$LIB"/libicutest.so*
rm -rf "$ROOT"/usr/share/gcc "$ROOT"/usr/share/bash-completion
# Programs: node only (and in the builder npm, npx and busybox).
find "$ROOT/usr/bin" -mindepth 1 \
    ! -name node ! -name nodejs ! -name npm ! -name npx ! -name busybox \
    -exec rm -rf {} +
if [ "$ROLE" = base ]; then
    # A nodejs that bundles npm and corepack: the base runs no package manager.
    rm -rf "$ROOT"/usr/lib/node_modules/npm "$ROOT"/usr/lib/node_modules/corepack \
           "$ROOT"/usr/bin/npm "$ROOT"/usr/bin/npx "$ROOT"/usr/bin/corepack
fi
# JavaScript packages: documentation, type declarations, source maps.
find "$ROOT/usr/share/nodejs" "$ROOT/usr/lib/node_modules" "$ROOT/usr/share/javascript" \
    -type f \( -iname '*.md' -o -iname '*.markdown' -o -name '*.ts' -o -name '*.map' \
        -o -name '*.tsbuildinfo' \) -delete 2>/dev/null || true

# CA certificates for the builder: npm fetches packages over HTTPS. The bundle
# is the host's when it has one, so a builder trusts what the host that builds
# the images trusts (a site behind a TLS-inspecting proxy adds its CA there);
# otherwise Debian's, as update-ca-certificates would make it.
if [ "$ROLE" = builder ]; then
    mkdir -p "$ROOT/etc/ssl/certs"
    if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
        cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
    else
        find "$ROOT/usr/share/ca-certificates" -name '*.crt' | sort |
            while read -r crt; do cat "$crt"; done >"$ROOT/etc/ssl/certs/ca-certificates.crt"
    fi
    [ -s "$ROOT/etc/ssl/certs/ca-certificates.crt" ] || die "no CA certificates"
    rm -rf "$ROOT/usr/share/ca-certificates"
fi

# A few files every container expects.
mkdir -p "$ROOT/tmp" "$ROOT/fn" "$ROOT/root"
chmod 1777 "$ROOT/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' \
    >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"

if [ "$ROLE" = builder ]; then
    ln -sf busybox "$ROOT/usr/bin/sh"
    # RUN steps and npm scripts get the busybox applets (cp, ls, tar, ...) on PATH.
    for applet in $("$ROOT/usr/bin/busybox" --list); do
        [ -e "$ROOT/usr/bin/$applet" ] || [ -L "$ROOT/usr/bin/$applet" ] ||
            ln -s busybox "$ROOT/usr/bin/$applet"
    done
    # npm's global settings: no update check, no audit or funding calls, and
    # a registry that cannot be reached fails the deploy within a minute
    # rather than after npm's default retries (up to minutes per request).
    mkdir -p "$ROOT/etc"
    printf '%s\n' update-notifier=false audit=false fund=false \
        cafile=/etc/ssl/certs/ca-certificates.crt \
        fetch-retries=1 fetch-retry-mintimeout=2000 fetch-retry-maxtimeout=10000 \
        fetch-timeout=30000 >"$ROOT/etc/npmrc"
fi

echo "rootfs $(du -sm "$ROOT" | cut -f1) MB"

# --- Dockerfile ---------------------------------------------------------------

{
    echo "FROM scratch"
    echo "COPY rootfs/ /"
    echo "ENV PATH=/usr/local/bin:/usr/bin NODE_ENV=production TINYFAAS_PORT=8000 TINYFAAS_FN_DIR=/fn"
    # The daemon's context tar holds no directory entries, so an empty
    # directory such as /tmp comes from WORKDIR, which makes it if missing.
    echo "WORKDIR /tmp"
    echo "WORKDIR /fn"
    if [ "$ROLE" = base ]; then
        echo "EXPOSE 8000"
        echo 'ENTRYPOINT ["/usr/bin/node", "/opt/tinyfaas/handler.js"]'
    else
        echo "ENV HOME=/root npm_config_cache=/tmp/.npm \\"
        echo "    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"
        echo 'SHELL ["/bin/sh", "-c"]'
    fi
} >"$OUT/Dockerfile"

# Same inputs, same files: fixed times on everything written here.
find "$OUT" -exec touch -h -d @0 {} +
echo "context ready ($ROLE)"
