#!/usr/bin/env bash
# The project's environment (made by tools/setup.sh) first on PATH, so that `python` is
# the pinned one with ESPnet and espnet_sniper.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if [ ! -x "${root}/.venv/bin/python" ]; then
    echo "error: ${root}/.venv is missing: run ${root}/tools/setup.sh first" >&2
    exit 1
fi
export PATH=${root}/.venv/bin:${PATH}
# The cached environment may be shared by several clones: this checkout's package first.
export PYTHONPATH=${root}${PYTHONPATH:+:${PYTHONPATH}}
export PYTHONIOENCODING=utf-8
