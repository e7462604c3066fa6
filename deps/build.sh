#!/bin/bash
# Builds libcoap, libcurl and libmicrohttpd from Debian's own sources, cut
# down to what tinyfaas uses, as static libraries in build-deps/prefix, for
# the tiny profile (meson setup -Dprofile=tiny). Does nothing when the copy
# there matches the options below and the versions Debian has installed.
# deps/README.md says why and what it costs.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

# What the build needs beyond the default build's packages: apt's `source`
# and Mbed TLS.
TF_TINY_PACKAGES="dpkg-dev libmbedtls-dev"

# libcoap: DTLS over Mbed TLS; no programs, documents or tests.
TF_COAP_CONFIGURE="--with-mbedtls --disable-documentation --disable-examples --disable-tests"
# libcurl: HTTP and HTTPS (Mbed TLS, as libcoap; Debian's CA bundle), unix sockets.
TF_CURL_CONFIGURE="--with-mbedtls --without-gnutls --without-openssl
--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path --disable-ftp
--disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet
--disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher
--disable-mqtt --disable-manual --disable-ntlm --disable-alt-svc --disable-hsts --disable-cookies
--disable-doh --disable-netrc --disable-mime --disable-websockets --without-libssh2
--without-libssh --without-librtmp --without-nghttp2 --without-libidn2 --without-libpsl
--without-brotli --without-zstd --without-gssapi"
# libmicrohttpd: plain HTTP only; TLS in front of it is the operator's choice.
TF_MHD_CONFIGURE="--disable-https --disable-curl --disable-doc --disable-examples"
# All three: static, position independent, each function in its own section so
# the daemon's --gc-sections drops what it never calls; Debian's hardening.
TF_DEPS_COMMON="--disable-shared --enable-static --with-pic --disable-dependency-tracking"
TF_DEPS_CFLAGS="-O2 -ffunction-sections -fdata-sections -fstack-protector-strong -D_FORTIFY_SOURCE=2"

# The versions of Debian's libcoap, libcurl and libmicrohttpd installed here,
# as "libcoap3=VERSION curl=VERSION libmicrohttpd=VERSION" (source packages).
tf_deps_versions() {
    printf 'libcoap3=%s curl=%s libmicrohttpd=%s\n' "$(tf_deps_installed libcoap3)" \
        "$(tf_deps_installed libcurl3-gnutls)" "$(tf_deps_installed libmicrohttpd12)"
}
tf_deps_installed() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }

# What the built copy must match: these options and those versions.
tf_deps_wanted() {
    printf '%s\n' "$TF_COAP_CONFIGURE $TF_CURL_CONFIGURE $TF_MHD_CONFIGURE $TF_DEPS_COMMON $TF_DEPS_CFLAGS"
    tf_deps_versions
}

# apt options that keep the source index out of the system's apt state.
tf_deps_apt() {
    local apt=$1
    shift
    apt-get -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts="$apt/parts" \
        -o Dir::State::Lists="$apt/lists" -o APT::Sandbox::User=root -qq "$@"
}

# Fetches and unpacks (with Debian's patches) the sources of libcoap, curl and
# libmicrohttpd from the deb-src twins of the Debian archives apt uses.
tf_deps_fetch() {
    local dir=$1 apt=$1/apt
    mkdir -p "$apt/lists/partial" "$apt/parts" "$dir/src"
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
        'Created-By: Packages' 'Origin: Debian' | sort -u |
        while read -r uri suite component; do
            # Backports would win on version with another release's code.
            case $suite in *-backports) continue ;; esac
            echo "deb-src $uri $suite $component"
        done >"$apt/sources.list"
    if [ ! -s "$apt/sources.list" ]; then
        tf_say "apt knows no Debian archive (run apt-get update first)"
        return 1
    fi
    # A mirror without sources for one suite (security often has none) only
    # narrows the choice; `source` below says whether anything was found.
    tf_deps_apt "$apt" update 2>/dev/null || true
    # The versions installed here, else the newest of the release (when the
    # mirror lacks the sources of an installed fix, say).
    local pinned
    pinned=$(tf_deps_versions)
    # shellcheck disable=SC2086 # one word per package
    (cd "$dir/src" && { tf_deps_apt "$apt" source $pinned ||
        tf_deps_apt "$apt" source libcoap3 curl libmicrohttpd; } >"$dir/fetch.log" 2>&1) || {
        tf_say "cannot fetch the sources of libcoap, curl and libmicrohttpd:"
        tail -n 5 "$dir/fetch.log" >&2
        return 1
    }
}

# Configures, builds and installs one library's SUBDIRS from source folder SRC.
tf_deps_make() {
    local src=$1 prefix=$2 log=$3 options=$4
    shift 4
    (
        cd "$src" &&
            # shellcheck disable=SC2086 # the option lists are word lists
            CFLAGS="$TF_DEPS_CFLAGS" ./configure --prefix="$prefix" $TF_DEPS_COMMON $options &&
            for sub in "$@"; do make -j"$(nproc)" -C "$sub" install || exit 1; done
    ) >"$log" 2>&1 || {
        tf_say "building $(basename "$src") failed; the end of $log:"
        tail -n 20 "$log" >&2
        return 1
    }
}

# Builds build-deps/prefix unless it already matches tf_deps_wanted.
tf_build_deps() {
    local dir
    dir="$(tf_root)/build-deps"
    local stamp=$dir/prefix/built-from
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(tf_deps_wanted)" ]; then
        return 0
    fi
    tf_say "building libcoap, libcurl and libmicrohttpd, trimmed, from Debian's sources (about a minute)"
    rm -rf "$dir" && mkdir -p "$dir"
    tf_deps_fetch "$dir" &&
        tf_deps_make "$dir"/src/libcoap3-*/ "$dir/prefix" "$dir/coap.log" "$TF_COAP_CONFIGURE" . &&
        tf_deps_make "$dir"/src/curl-*/ "$dir/prefix" "$dir/curl.log" "$TF_CURL_CONFIGURE" lib include &&
        tf_deps_make "$dir"/src/libmicrohttpd-*/ "$dir/prefix" "$dir/mhd.log" "$TF_MHD_CONFIGURE" \
            src/microhttpd src/include || return 1
    tf_deps_wanted >"$stamp"
    # Only the libraries and headers are kept: the sources and apt's index are 100 MB.
    rm -rf "$dir/src" "$dir/apt"
}

TINYFAAS_PACKAGES="$TINYFAAS_PACKAGES $TF_TINY_PACKAGES" tf_install_packages
tf_build_deps
