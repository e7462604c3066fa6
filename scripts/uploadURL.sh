#!/bin/bash
# uploadURL.sh URL SUBFOLDER NAME ENV THREADS [KEY=VALUE]...: deploys a
# function from a zip the daemon fetches (http or https), the function being
# the zip's folder SUBFOLDER, as tinyFaaS's script of the same name does.
# Settings: see mgmt.sh.
set -euo pipefail
source "$(dirname "$0")/mgmt.sh"
if [ $# -lt 5 ]; then
    echo "usage: $0 URL SUBFOLDER NAME ENV THREADS [KEY=VALUE]..." >&2
    exit 2
fi
url=$1 subfolder=$2 name=$3 env=$4 threads=$5
shift 5
envs=$(tf_envs_json "$@")
tf_mgmt POST /uploadURL --data "$(printf '{"name":%s,"env":%s,"threads":%s,"url":%s,"subfolder_path":%s,"envs":[%s]}' \
    "$(tf_json_string "$name")" "$(tf_json_string "$env")" "$threads" "$(tf_json_string "$url")" \
    "$(tf_json_string "$subfolder")" "$envs")"
