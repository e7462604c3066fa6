# Shared by the runtime recipes (source it): a root filesystem from Debian
# packages without dpkg's install step.

# unpack_debs ROOT CACHE FILE...: extracts each .deb (in name order, so the
# result does not depend on the order given) and makes the tree merged-/usr.
unpack_debs() {
    local root=$1 cache=$2 file d
    shift 2
    echo "unpacking $# packages"
    for file in $(printf '%s\n' "$@" | sort); do
        dpkg-deb -x "$cache/$file" "$root"
    done
    # Debian 12 is merged-/usr, but its packages still ship /lib, /bin, ...:
    # move them under /usr and leave symbolic links, as a Debian system has.
    for d in bin lib lib64 sbin; do
        mkdir -p "$root/usr/$d"
        if [ -d "$root/$d" ] && [ ! -L "$root/$d" ]; then
            cp -a "$root/$d/." "$root/usr/$d/"
            rm -rf "${root:?}/$d"
        fi
        ln -s "usr/$d" "$root/$d"
    done
}
