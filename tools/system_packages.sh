#!/usr/bin/env bash
# System programs the book uses (not Python packages). Called by `make book` and `make test`.
#   apertium, apertium-eng-spa   the translation chapters' rule-based peer baseline (the tests measure it too)
#   chromium, chromium-driver    the browser test: the built book opened headless, network off
# As root with apt (CI, containers) the missing ones are installed; otherwise the chapter's row says "not
# measured" and the browser test is skipped, each naming the command below, and the build goes on.
set -euo pipefail
missing=()
if ! { command -v apertium >/dev/null && apertium -l 2>/dev/null | grep -q '^[[:space:]]*eng-spa$'; }; then
  missing+=(apertium apertium-eng-spa)
fi
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
else
  echo "note: not installed: ${missing[*]} (Apertium: the translation chapter's peer baseline; Chromium: the" \
       "browser test); run 'sudo apt-get install ${missing[*]}'" >&2
fi
