#!/bin/sh
# build-context.sh builder OUT_DIR: the c runtime's builder image, a C
# toolchain that compiles fn.c and links it statically with the runtime.
#
# No debootstrap and no registry: the root filesystem is the dependency
# closure of gcc, libc6-dev, libmsgpack-dev and nettle-dev (the handler
# link's HMAC), fetched with `apt-get download` (cached in $TINYFAAS_CACHE_DIR/c-debs) and unpacked with `dpkg -x`,
# plus busybox-static as /bin/sh for the Dockerfile's RUN steps, plus
# tinyfaas.h and libtinyfaas-c.a in /opt/tinyfaas/. Maintainer scripts never
# run; nothing in a compiler needs them.
set -eu

role=${1:-}
out=${2:-}
if [ "$role" != builder ] || [ -z "$out" ]; then
    echo "usage: build-context.sh builder OUT_DIR (the c runtime has no base image)" >&2
    exit 2
fi
: "${TINYFAAS_RUNTIME_DIR:?}" "${TINYFAAS_SHIM_DIR:?}" "${TINYFAAS_CACHE_DIR:?}"
lib=$TINYFAAS_SHIM_DIR/libtinyfaas-c.a
header=$TINYFAAS_RUNTIME_DIR/c/tinyfaas.h
for f in "$lib" "$header"; do
    [ -f "$f" ] || { echo "build-context.sh: missing $f (build the project first)" >&2; exit 1; }
done

# What the toolchain needs, and what the closure drags in that it does not:
# libmsgpack-dev pulls the C++ half (boost headers, ~150 MB); libc6-dev pulls
# Sun RPC and Kerberos through libtirpc; gcc's runtime libraries for
# sanitizers, OpenMP and friends are never linked into a -static C handler;
# nettle-dev pulls GMP's headers and its public-key half, which HMAC never
# needs (gcc's own libgmp10 stays).
roots="gcc cpp binutils libc6-dev libgcc-12-dev linux-libc-dev libmsgpack-dev nettle-dev busybox-static"
skip=" libmsgpack-cxx-dev libboost-dev libboost1.74-dev libstdc++-12-dev libstdc++6 libasan8
 liblsan0 libtsan2 libubsan1 libcc1-0 libgomp1 libitm1 libquadmath0 libatomic1 libgprofng0
 libtirpc-dev libtirpc3 libtirpc-common libgssapi-krb5-2 libkrb5-3 libk5crypto3
 libkrb5support0 libkeyutils1 libcom-err2 libssl3 libnsl-dev libnsl2 rpcsvc-proto
 libgmp-dev libgmpxx4ldbl libhogweed6"
skip=" $(echo $skip) " # one line, a space on both sides of every name

debs=$TINYFAAS_CACHE_DIR/c-debs
mkdir -p "$debs" "$out/rootfs"
root=$(cd "$out/rootfs" && pwd)

echo "c builder: resolving packages"
# Lines without indentation are package names; <name> is a virtual package
# that some real package in the list already provides.
pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $roots | grep -v '^[ <]' | sort -u)
keep=""
for p in $pkgs; do
    case "$skip" in *" $p "*) ;; *) keep="$keep $p" ;; esac
done
# The file name apt-get download gives each: name_version_arch.deb, with the
# epoch's colon escaped. One apt-cache call: each costs about a second.
want=$(apt-cache show --no-all-versions $keep | awk '
    /^Package: /      { p = $2 }
    /^Version: /      { v = $2; sub(/:/, "%3a", v) }
    /^Architecture: / { a = $2 }
    /^$/ && p != ""   { print p "_" v "_" a ".deb"; p = "" }
    END { if (p != "") print p "_" v "_" a ".deb" }')
missing=""
for f in $want; do
    [ -f "$debs/$f" ] || missing="$missing ${f%%_*}"
done
if [ -n "$missing" ]; then
    echo "c builder: downloading$missing"
    # Into a scratch dir first, so an interrupted download never leaves a
    # truncated .deb that later runs would trust.
    tmp=$(mktemp -d "$debs/.dl.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    # As root apt downloads as its _apt user, who cannot write to a cache
    # dir that is not its own; the downloads are checked by hash either way.
    sandbox=""
    [ "$(id -u)" != 0 ] || sandbox="-o APT::Sandbox::User=root"
    (cd "$tmp" && apt-get download -q $sandbox $missing) >&2
    mv "$tmp"/*.deb "$debs"/
else
    echo "c builder: all packages cached in $debs"
fi

echo "c builder: unpacking $(echo $want | wc -w) packages"
for f in $want; do
    dpkg -x "$debs/$f" "$root"
done

# Programs look for `gcc`, `cc`, `as` and `ld` under those names.
ln -sf gcc "$root/usr/bin/cc"
# busybox as the shell for RUN, with its applets; a real tool of the same
# name in /usr/bin wins, because PATH puts /usr/bin first.
mkdir -p "$root/bin" "$root/tmp"
chmod 1777 "$root/tmp"
for a in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done

# Not needed to compile C: documentation and translations, and the LTO
# compiler and its dump tool (~30 MB each; the template never passes -flto).
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" \
    "$root/usr/share/locale" "$root/usr/share/lintian" "$root/usr/share/bug" \
    "$root/usr/share/gdb" "$root/usr/lib/gcc/x86_64-linux-gnu/12/lto1" \
    "$root"/usr/bin/*lto-dump*

mkdir -p "$root/opt/tinyfaas"
cp "$header" "$lib" "$root/opt/tinyfaas/"

cat >"$out/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/bin:/bin
EOF
echo "c builder: context ready ($(du -sh "$root" | cut -f1))"
