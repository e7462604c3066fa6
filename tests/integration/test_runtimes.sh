#!/usr/bin/env bash
# The four runtimes end to end: every example deployed through /upload and
# called over CoAP and HTTP with its exact answer; function errors in each
# runtime; a c compile error; a redeploy; an uninstallable requirement.
#
#   test_runtimes.sh DAEMON SOURCE_ROOT
set -u
source "$(dirname "$0")/lib.sh"
it_init "$@"

# Base and builder images first, with the command operators use for it: the
# first deploys below then measure deploys, not image builds.
start=$(date +%s)
timeout 1500 "$DAEMON" --build-images --state-dir "$STATE" > "$T/images.log" 2>&1
rc=$?
check "build-images: exit status" 0 "$rc"
[ "$rc" -ne 0 ] && tail -20 "$T/images.log"
echo "# runtime images ready in $(($(date +%s) - start)) s"
for env in binary python3 nodejs c; do
    check "build-images: $env image present" yes \
        "$(docker images -q --filter "label=tinyfaas.base=$env" | grep -q . && echo yes || echo no)"
done

it_start_daemon

# deploy_example ENV EXAMPLE NAME: zips examples/EXAMPLE/ENV and deploys it as NAME.
deploy_example() {
    ENV=$1
    zipdir "$SRC/examples/$2/$1" "$T/$3.zip"
    deploy_ok "$3" 1 "$T/$3.zip"
}

# expect_http LABEL NAME EXPECTED [CURL ARGS...]
expect_http() {
    local label=$1 name=$2 want=$3
    shift 3
    call "$name" "$@"
    check "$label: HTTP status" 200 "$CODE"
    check "$label: HTTP body" "$want" "$(cat "$T/out")"
}

# expect_coap LABEL NAME EXPECTED [PAYLOAD]
expect_coap() {
    local label=$1 name=$2 want=$3
    shift 3
    coap "$name" "$@"
    check "$label: CoAP error output" "" "$(cat "$T/cerr")"
    check "$label: CoAP payload" "$want" "$(cat "$T/cout")"
}

# --- examples --------------------------------------------------------------

for env in binary python3 nodejs c; do
    deploy_example "$env" echo "echo-$env"
    expect_http "echo $env" "echo-$env" hello --data-binary hello
    expect_coap "echo $env" "echo-$env" "hello CoAP" "hello CoAP"
done

# --- every runtime's handlers run as nobody and may write to /tmp -----------

# Each writes the body to /tmp/note, reads it back, and says who it runs as.
W=$T/whoami
mkdir -p "$W/python3" "$W/nodejs" "$W/c" "$W/binary"
cat > "$W/python3/fn.py" <<'PY'
import os


def fn(input, headers):
    with open("/tmp/note", "w") as f:
        f.write(input)
    with open("/tmp/note") as f:
        return "uid=%d gid=%d %s" % (os.getuid(), os.getgid(), f.read())
PY
printf '{"name":"whoami","main":"index.js"}\n' > "$W/nodejs/package.json"
cat > "$W/nodejs/index.js" <<'JS'
const fs = require("fs");
module.exports = (req, res) => {
  fs.writeFileSync("/tmp/note", req.body);
  res.send(`uid=${process.getuid()} gid=${process.getgid()} ${fs.readFileSync("/tmp/note")}`);
};
JS
cat > "$W/c/fn.c" <<'C'
#include <stdio.h>
#include <unistd.h>
#include <tinyfaas.h>

int tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)
{
    char note[64] = "", out[128];
    FILE *f = fopen("/tmp/note", "w");
    if (f == NULL)
        return tinyfaas_set_string(res, "cannot write /tmp/note");
    fwrite(req->body, 1, req->body_len, f);
    fclose(f);
    f = fopen("/tmp/note", "r");
    size_t n = f != NULL ? fread(note, 1, sizeof note - 1, f) : 0;
    note[n] = '\0';
    if (f != NULL)
        fclose(f);
    snprintf(out, sizeof out, "uid=%d gid=%d %s", (int)getuid(), (int)getgid(), note);
    return tinyfaas_set_string(res, out);
}
C
printf '#!/bin/sh\ncat > /tmp/note && echo "uid=$(id -u) gid=$(id -g) $(cat /tmp/note)"\n' > "$W/binary/fn.sh"
chmod +x "$W/binary/fn.sh"
for env in python3 nodejs c binary; do
    ENV=$env
    zipdir "$W/$env" "$T/whoami-$env.zip"
    deploy_ok "whoami-$env" 1 "$T/whoami-$env.zip"
    expect_http "whoami $env: not root, /tmp writable" "whoami-$env" "uid=65534 gid=65534 note" \
        --data-binary note
done

for env in python3 nodejs c; do
    deploy_example "$env" sieve-of-eratosthenes "sieve-$env"
    expect_http "sieve $env (empty body)" "sieve-$env" 1229 -X POST
    expect_http "sieve $env (100)" "sieve-$env" 25 --data-binary 100
    expect_coap "sieve $env (100)" "sieve-$env" 25 100
done

for env in python3 nodejs; do
    deploy_example "$env" show-headers "headers-$env"
done
call headers-python3 -H 'User-Agent: t' -H 'Accept: a/b' -H 'X-Foo: bar'
check "show-headers python3: HTTP body" \
    "{\"Accept\": \"a/b\", \"Host\": \"127.0.0.1:$PORT\", \"User-Agent\": \"t\", \"X-Foo\": \"bar\"}" \
    "$(cat "$T/out")"
call headers-nodejs -H 'User-Agent: t' -H 'Accept: a/b' -H 'X-Foo: bar'
check "show-headers nodejs: HTTP body" \
    "{\"accept\":\"a/b\",\"host\":\"127.0.0.1:$PORT\",\"user-agent\":\"t\",\"x-foo\":\"bar\"}" \
    "$(cat "$T/out")"
rm -f "$T/cout"
timeout 30 coap-client-openssl -m get -A json -o "$T/cout" "coap://127.0.0.1:$PORT/headers-nodejs" \
    > /dev/null 2> "$T/cerr"
check "show-headers nodejs: CoAP Accept" '{"accept":"application/json"}' "$(cat "$T/cout")"
rm -f "$T/cout"
timeout 30 coap-client-openssl -m get -A json -o "$T/cout" "coap://127.0.0.1:$PORT/headers-python3" \
    > /dev/null 2> "$T/cerr"
check "show-headers python3: CoAP Accept" '{"Accept": "application/json"}' "$(cat "$T/cout")"

# --- function errors, then a good call -------------------------------------

# mkfunc DIR FILE CONTENT [FILE CONTENT]...: a function folder.
mkfunc() {
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    while [ $# -ge 2 ]; do
        printf '%s' "$2" > "$dir/$1"
        shift 2
    done
}

mkfunc "$T/err-python3" fn.py $'def fn(input, headers):\n    if input == "ok":\n        return "fine"\n    raise ValueError("bad input")\n'
mkfunc "$T/err-nodejs" package.json '{"name":"err","main":"index.js"}' \
    index.js $'module.exports = (req, res) => {\n  if (req.body === "ok") { res.send("fine"); return; }\n  throw new Error("bad input");\n};\n'
mkfunc "$T/err-binary" fn.sh $'#!/bin/sh\nif [ "$(cat)" = ok ]; then printf fine; exit 0; fi\necho "bad input" >&2\nexit 3\n'
mkfunc "$T/err-c" fn.c $'#include <string.h>\n#include "tinyfaas.h"\nint tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)\n{\n    if (req->body_len == 2 && memcmp(req->body, "ok", 2) == 0) {\n        tinyfaas_set_string(res, "fine");\n        return 0;\n    }\n    tinyfaas_set_string(res, "bad input");\n    return 1;\n}\n'
for env in python3 nodejs binary c; do
    ENV=$env
    zipdir "$T/err-$env" "$T/err-$env.zip"
    deploy_ok "err-$env" 1 "$T/err-$env.zip"
    call "err-$env" --data-binary boom
    check "error $env: HTTP status" 500 "$CODE"
    check "error $env: HTTP message" "bad input" "$(tr -d '\n' < "$T/out")"
    coap "err-$env" boom
    check "error $env: CoAP code and message" "5.00 bad input" "$(tr -d '\n' < "$T/cerr" | sed 's/\.$//')"
    expect_http "error $env, then" "err-$env" fine --data-binary ok
done

# --- a c function that does not compile ------------------------------------

mkfunc "$T/broken-c" fn.c $'#include "tinyfaas.h"\nint tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)\n{\n    return undefined_thing;\n}\n'
ENV=c
zipdir "$T/broken-c" "$T/broken-c.zip"
before=$(counts)
deploy broken-c 1 "$T/broken-c.zip"
check "c compile error: status" 400 "$CODE"
check "c compile error: the compiler's message" yes \
    "$(grep -q "undefined_thing" "$T/body" && grep -q "error" "$T/body" && echo yes || cat "$T/body")"
check "c compile error: nothing left behind" "$before" "$(counts)"

# --- redeploy with new code -------------------------------------------------

ENV=python3
old_ids=$(docker ps -aq --no-trunc --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo-python3 | sort)
old_images=$(n_images --filter label=tinyfaas.function=echo-python3)
mkfunc "$T/echo2-python3" fn.py $'def fn(input, headers):\n    return "v2:" + (input or "")\n'
zipdir "$T/echo2-python3" "$T/echo2-python3.zip"
deploy_ok echo-python3 1 "$T/echo2-python3.zip"
expect_http "redeploy python3" echo-python3 "v2:x" --data-binary x
new_ids=$(docker ps -aq --no-trunc --filter "label=tinyfaas.instance=$IID" --filter label=tinyfaas.function=echo-python3 | sort)
check "redeploy: old containers gone" "" "$(comm -12 <(echo "$old_ids") <(echo "$new_ids"))"
check "redeploy: one container" 1 "$(echo "$new_ids" | grep -c .)"
check "redeploy: as many images as before" "$old_images" "$(n_images --filter label=tinyfaas.function=echo-python3)"

# --- a nodejs dependency, installed with npm at deploy -----------------------

ENV=nodejs
mkfunc "$T/deps-nodejs" package.json '{"name":"deps","main":"index.js","dependencies":{"is-number":"7.0.0"}}' \
    index.js $'const isNumber = require("is-number");\nmodule.exports = (req, res) => res.send(isNumber(req.body) ? "number" : "not a number");\n'
zipdir "$T/deps-nodejs" "$T/deps-nodejs.zip"
deploy_ok deps-nodejs 1 "$T/deps-nodejs.zip"
expect_http "nodejs dependency" deps-nodejs number --data-binary 42
expect_http "nodejs dependency" deps-nodejs "not a number" --data-binary abc

# --- a requirement that cannot be installed here ----------------------------

ENV=python3
mkfunc "$T/req-python3" fn.py $'import requests\ndef fn(input, headers):\n    return "never"\n' \
    requirements.txt $'requests==2.31.0\n'
zipdir "$T/req-python3" "$T/req-python3.zip"
before=$(counts)
start=$(date +%s)
deploy req-python3 1 "$T/req-python3.zip"
echo "# uninstallable requirement refused in $(($(date +%s) - start)) s"
check "requirements: status" 400 "$CODE"
check "requirements: pip's message" yes \
    "$(grep -qiE "could not find a version|no matching distribution|requests" "$T/body" && echo yes || cat "$T/body")"
check "requirements: nothing left behind" "$before" "$(counts)"

it_finish
