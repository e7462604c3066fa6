#!/bin/bash
# wipe-functions.sh: removes every function, as tinyFaaS's script of the same
# name does. Settings: see mgmt.sh.
set -euo pipefail
source "$(dirname "$0")/mgmt.sh"
tf_mgmt POST /wipe --data ""
