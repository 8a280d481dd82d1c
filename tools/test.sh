#!/usr/bin/env bash
# Sets up (tools/setup.sh) and runs the test suite; extra arguments go to pytest.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "${repo}/tools/setup.sh"
cd "${repo}"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec .venv/bin/python -m pytest -q "$@"
