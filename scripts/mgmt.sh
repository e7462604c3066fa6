# Shared by the management scripts (upload.sh, uploadURL.sh, delete.sh,
# list.sh, logs.sh, wipe-functions.sh). Source it.
#
#   TINYFAAS_HOST   the daemon's host (default 127.0.0.1)
#   MGMT_PORT       its management port (default 8080)
#   TINYFAAS_TOKEN  the management token; when unset, the one a daemon made in
#                   ${TINYFAAS_STATE_DIR:-./tinyfaas-state}/token, if readable

if [ -z "${TINYFAAS_TOKEN:-}" ] && [ -r "${TINYFAAS_STATE_DIR:-./tinyfaas-state}/token" ]; then
    TINYFAAS_TOKEN=$(cat "${TINYFAAS_STATE_DIR:-./tinyfaas-state}/token")
fi

# tf_mgmt METHOD PATH [CURL ARGS...]: prints the answer; exits non-zero with
# the daemon's reason on a 4xx or 5xx.
tf_mgmt() {
    local method=$1 path=$2
    shift 2
    local auth=()
    [ -n "${TINYFAAS_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $TINYFAAS_TOKEN")
    curl -sS --fail-with-body -X "$method" "${auth[@]}" "$@" \
        "http://${TINYFAAS_HOST:-127.0.0.1}:${MGMT_PORT:-8080}$path"
}

# tf_json_string TEXT: TEXT as a JSON string, quotes and all.
tf_json_string() {
    python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

# tf_envs_json KEY=VALUE...: the "envs" array's items, comma-separated.
tf_envs_json() {
    local out="" kv
    for kv in "$@"; do out="$out${out:+,}$(tf_json_string "$kv")"; done
    printf '%s' "$out"
}
