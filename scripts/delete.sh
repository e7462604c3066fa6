#!/bin/bash
# delete.sh NAME: removes a function, as tinyFaaS's script of the same name
# does. Settings: see mgmt.sh.
set -euo pipefail
source "$(dirname "$0")/mgmt.sh"
if [ $# -ne 1 ]; then
    echo "usage: $0 NAME" >&2
    exit 2
fi
tf_mgmt POST /delete --data "{\"name\":$(tf_json_string "$1")}"
