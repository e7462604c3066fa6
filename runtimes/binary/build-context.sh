#!/bin/bash
# build-context.sh base OUT_DIR: the binary runtime's base image, FROM scratch
# with busybox-static (as /bin/sh and its applets) and the static shim.
set -euo pipefail
role=$1 out=$2
[ "$role" = base ] || { echo "the binary runtime has no $role image" >&2; exit 2; }
busybox=${TINYFAAS_BUSYBOX:-/bin/busybox}
shim="$TINYFAAS_SHIM_DIR/tinyfaas-shim"
# The image has no libc: busybox must be the static build (Debian's busybox-static).
[ -x "$busybox" ] || { echo "no busybox at $busybox (install busybox-static)" >&2; exit 1; }
[ -x "$shim" ] || { echo "no shim at $shim (build the project first)" >&2; exit 1; }

mkdir -p "$out/rootfs/bin" "$out/rootfs/fn" "$out/rootfs/tmp"
chmod 1777 "$out/rootfs/tmp"
cp "$busybox" "$out/rootfs/bin/busybox"
cp "$shim" "$out/rootfs/tinyfaas-shim"
n=0
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] && continue
    ln -s busybox "$out/rootfs/bin/$applet"
    n=$((n + 1))
done
echo "busybox with $n applets, shim $(stat -c %s "$shim") bytes"
cat > "$out/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
WORKDIR /fn
ENV PATH=/bin TINYFAAS_FN_DIR=/fn
ENTRYPOINT ["/tinyfaas-shim", "binary"]
DOCKERFILE
