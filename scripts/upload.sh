#!/bin/bash
# upload.sh FOLDER NAME ENV THREADS [KEY=VALUE]...: deploys a function folder,
# as tinyFaaS's script of the same name does.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 FOLDER NAME ENV THREADS [KEY=VALUE]..." >&2
    exit 2
fi
folder=$1 name=$2 env=$3 threads=$4
shift 4
envs=""
for kv in "$@"; do envs="$envs${envs:+,}\"$kv\""; done
zip=$(cd "$folder" && zip -qr - . | base64 -w0)
curl -sS --fail-with-body "http://${TINYFAAS_HOST:-127.0.0.1}:${MGMT_PORT:-8080}/upload" \
    --data "{\"name\":\"$name\",\"env\":\"$env\",\"threads\":$threads,\"zip\":\"$zip\",\"envs\":[$envs]}"
