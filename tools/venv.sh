#!/usr/bin/env bash
# Create .venv/ and install the project into it. Called by `make`; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  echo "attnmem needs Python >= 3.10 as '$PYTHON' (set PYTHON=/path/to/python3.11)." >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq "python${ver}-venv" || apt-get install -y -qq python3-venv
      "$PYTHON" -m venv .venv
    else
      echo "Python's venv module is missing. On Debian/Ubuntu: sudo apt-get install python${ver}-venv" >&2; exit 1
    fi
  fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
