#!/bin/bash
# Sets up tinyFaaS on Debian 12 and runs every test (unit and integration,
# against the real Docker engine). Extra arguments go to meson test.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(tf_root)
tf_setup
meson test -C "$ROOT/build" --print-errorlogs "$@"
