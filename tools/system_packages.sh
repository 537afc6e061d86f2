#!/usr/bin/env bash
# Programs the book measures as peer baselines (not Python packages). Called by `make book` and
# `make test` (the tests measure them too).
# As root with apt (CI, containers) they are installed; otherwise the chapter's row says
# "not measured" and names this command, and the build goes on.
set -euo pipefail
if command -v apertium >/dev/null && apertium -l 2>/dev/null | grep -q '^[[:space:]]*eng-spa$'; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -qq apertium apertium-eng-spa >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq apertium apertium-eng-spa >/dev/null; }
else
  echo "note: Apertium (the translation chapter's peer baseline) is not installed; for its row run" \
       "'sudo apt-get install apertium apertium-eng-spa'" >&2
fi
