#!/bin/bash
# upload.sh FOLDER NAME ENV THREADS [KEY=VALUE]...: deploys a function folder,
# as tinyFaaS's script of the same name does. Settings: see mgmt.sh.
set -euo pipefail
source "$(dirname "$0")/mgmt.sh"
if [ $# -lt 4 ]; then
    echo "usage: $0 FOLDER NAME ENV THREADS [KEY=VALUE]..." >&2
    exit 2
fi
folder=$1 name=$2 env=$3 threads=$4
shift 4
envs=$(tf_envs_json "$@")
zip=$(cd "$folder" && zip -qr - . | base64 -w0)
# The body goes through a file: a large function's base64 outgrows the
# command line.
body=$(mktemp)
trap 'rm -f "$body"' EXIT
printf '{"name":%s,"env":%s,"threads":%s,"zip":"%s","envs":[%s]}' "$(tf_json_string "$name")" \
    "$(tf_json_string "$env")" "$threads" "$zip" "$envs" > "$body"
tf_mgmt POST /upload --data-binary "@$body"
