#!/bin/bash
# logs.sh [NAME]: what the handlers wrote, of one function or all, as
# tinyFaaS's script of the same name shows it. Settings: see mgmt.sh.
set -euo pipefail
source "$(dirname "$0")/mgmt.sh"
if [ $# -gt 1 ]; then
    echo "usage: $0 [NAME]" >&2
    exit 2
fi
if [ $# -eq 1 ]; then
    tf_mgmt GET /logs -G --data-urlencode "name=$1"
else
    tf_mgmt GET /logs
fi
