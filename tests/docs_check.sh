#!/bin/bash
# Keeps the docs honest: every relative link in README.md and docs/*.md
# reaches a file (and its heading, for a #anchor), the README stays a front
# door of at most 160 lines, and every --flag the docs name is one that
# `tinyfaas --help` lists, or one of the other programs' below.
#
#   tests/docs_check.sh SOURCE_ROOT TINYFAAS
set -uo pipefail
ROOT=$1
DAEMON=$2
cd "$ROOT" || exit 1

# Flags of other programs the docs show: meson's, curl's, pip's, docker's,
# clang-format's, systemctl's, docker swarm's.
OTHER_FLAGS="--print-errorlogs --suite --list --data --target --filter --dry-run --prefix --now \
--dispatcher-heartbeat --force --label-add --opt --token --advertise-addr"
README_MAX=160

failed=0
fail() {
    printf 'docs_check: %s\n' "$*" >&2
    failed=1
}

# The text of FILE outside fenced code blocks.
prose() { awk '/^```/ { fence = !fence; next } !fence' "$1"; }

# GitHub's anchor of each heading of FILE: lower case, punctuation dropped,
# spaces made hyphens.
anchors() {
    prose "$1" | sed -n 's/^#\{1,6\} \+//p' | tr 'A-Z' 'a-z' |
        sed -e 's/`//g' -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g'
}

DOCS=(README.md docs/*.md)

for f in "${DOCS[@]}"; do
    dir=$(dirname "$f")
    while IFS= read -r target; do
        case $target in
        http://* | https://* | mailto:*) continue ;;
        esac
        path=${target%%#*}
        anchor=
        [[ $target == *"#"* ]] && anchor=${target#*#}
        if [ -z "$path" ]; then
            file=$f
        else
            file=$(realpath -m --relative-to=. "$dir/$path")
        fi
        if [ ! -e "$file" ]; then
            fail "$f: link to $target: no such file"
            continue
        fi
        if [ -n "$anchor" ] && ! anchors "$file" | grep -qxF -- "$anchor"; then
            fail "$f: link to $target: no heading with that anchor in $file"
        fi
    done < <(prose "$f" | grep -o '\]([^)[:space:]]*)' | sed 's/^](\(.*\))$/\1/')
done

lines=$(wc -l < README.md)
[ "$lines" -le $README_MAX ] || fail "README.md has $lines lines, more than $README_MAX"

help=$("$DAEMON" --help) || fail "$DAEMON --help failed"
known=" $(grep -o -- '--[a-z][a-z0-9-]*' <<< "$help" | tr '\n' ' ') $OTHER_FLAGS "
for f in "${DOCS[@]}"; do
    while IFS= read -r flag; do
        [[ $known == *" $flag "* ]] || fail "$f: names $flag, which tinyfaas --help does not list"
    done < <(grep -oE -- '(^|[^[:alnum:]-])--[a-z][a-z0-9-]*' "$f" | grep -o -- '--.*' | sort -u)
done

[ $failed -eq 0 ] && echo "docs_check: ${#DOCS[@]} pages, README $lines lines: links and flags hold"
exit $failed
