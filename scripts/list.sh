#!/bin/bash
# list.sh: the deployed functions, one name a line, as tinyFaaS's script of
# the same name prints them. Settings: see mgmt.sh.
set -euo pipefail
source "$(dirname "$0")/mgmt.sh"
tf_mgmt GET /list
