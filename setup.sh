#!/usr/bin/env bash
# Set up workbench in ./.venv on a fresh machine (safe to re-run; it only adds what is missing).
#   ./setup.sh          what the demo and the app need
#   ./setup.sh --test   plus pytest and headless Chromium + ChromeDriver for the browser tests
set -euo pipefail
cd "$(dirname "$0")"

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# An unpinned torch pulls a multi-GB CUDA build; 2.13.0 (CPU) is the fast, known-good pin.
# A torch that is already installed (e.g. your CUDA build) is kept.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    "${PIP[@]}" torch==2.13.0 || "${PIP[@]}" torch
fi

if [ "${1:-}" = "--test" ]; then
    "${PIP[@]}" -e ".[test]"
    # Browser tests drive headless Chromium; the multi-machine test runs a real Redis on loopback.
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v redis-server >/dev/null; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        if command -v apt-get >/dev/null; then
            $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver redis-server >/dev/null
        else
            echo "setup.sh: install Chromium, ChromeDriver and redis-server for the browser and queue tests" >&2
        fi
    fi
else
    "${PIP[@]}" -e .
fi
