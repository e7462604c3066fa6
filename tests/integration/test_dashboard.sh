#!/usr/bin/env bash
# The dashboard in a real browser: headless Chromium, driven by Selenium
# (dashboard.py beside this file), against a daemon with real functions:
# the token asked once and kept for the tab, the functions listed, their
# charts drawn from /metrics while they are called, a followed log showing a
# call's line, a zip file and a folder deployed and invoked through the page
# (exact answers), scale and delete; under --no-auth, no token asked.
# Screenshots go to $TINYFAAS_DASHBOARD_SHOTS, by default
# meson-logs/dashboard/ in the daemon's build folder.
#
#   test_dashboard.sh DAEMON SOURCE_ROOT
set -u

source "$(dirname "$0")/lib.sh"
it_init "$@"

# The browser is this test's need, not the platform's: installed here (as
# tools/bench.sh installs wrk), so the quick start never brings a browser
# onto a gateway. Debian's Selenium is for Debian's Python, whichever
# python3 comes first on the PATH.
PY=/usr/bin/python3
if ! [ -x /usr/bin/chromedriver ] || ! "$PY" -c 'import selenium' 2> /dev/null; then
    source "$SRC/scripts/lib.sh"
    TINYFAAS_PACKAGES="chromium chromium-driver python3-selenium" tf_install_packages ||
        { echo "FAIL chromium, chromium-driver and python3-selenium are missing"; exit 1; }
fi

SHOTS=${TINYFAAS_DASHBOARD_SHOTS:-$(dirname "$DAEMON")/meson-logs/dashboard}
mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png
echo "# screenshots in $SHOTS"

it_start_daemon
mkfn "$T/hello" 'in=$(cat); echo "log:$in" >&2; printf "hello:%s" "$in"'
zipdir "$T/hello" "$T/hello.zip"
deploy_ok hello 1 "$T/hello.zip"
mkfn "$T/fromui" 'printf "ui:%s" "$(cat)"'
zipdir "$T/fromui" "$T/fromui.zip"

# browse [no-auth]: runs dashboard.py against the daemon; its checks count
# as this script's.
browse() {
    rm -rf "$T/chrome"
    DASH_URL=http://127.0.0.1:$MPORT DASH_TOKEN=$TINYFAAS_TOKEN DASH_FN=hello \
        DASH_CALL_URL=http://127.0.0.1:$PORT/hello DASH_ZIP=$T/fromui.zip DASH_DIR=$T/fromui \
        DASH_SHOTS=$SHOTS DASH_PROFILE=$T/chrome timeout 120 "$PY" "$(dirname "$0")/dashboard.py" "$@" \
        > "$T/dash.out" 2>&1
    local rc=$? line
    while IFS= read -r line; do
        echo "$line"
        case $line in
        ok\ *) PASS=$((PASS + 1)) ;;
        FAIL\ *) FAIL=$((FAIL + 1)) ;;
        esac
    done < "$T/dash.out"
    check "the browser script ran to its end${1:+ ($1)}" 0 "$rc"
    local left
    left=$(pgrep -f -- "--user-data-dir=$T/chrome")
    [ -n "$left" ] && kill -KILL $left
    check "no browser left running${1:+ ($1)}" "" "$left"
}
browse

# What the page did, seen from outside.
mgmt GET /list -H 'Accept: application/json'
check "after the page: hello on 2 threads, fromui and fromdir gone" "hello 2" \
    "$("$PY" -c 'import json, sys
print(" ".join("%s %s" % (f["name"], f["threads"]) for f in json.load(open(sys.argv[1]))))' "$T/body")"

# --- under --no-auth, the page asks for no token ---------------------------
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
it_start_daemon --no-auth
browse no-auth

it_finish
