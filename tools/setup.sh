#!/usr/bin/env bash
# One-command set-up: installs espeak-ng when missing, builds the pinned virtual
# environment once (cached outside the clone, keyed by the pins), installs this
# package into it in editable mode and links it as .venv in the repository.
set -euo pipefail

python=${PYTHON:-python3}
cache_dir=${SNIPER_CACHE_DIR:-${HOME}/.cache/espnet-sniper}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lock="${repo}/tools/requirements.lock"
mos_lock="${repo}/tools/mos-requirements.lock"   # DistillMOS, on its own path (see the file)
browser_lock="${repo}/tools/browser-requirements.lock"   # selenium, for the browser tests

log() { echo "[setup] $*" >&2; }

# espeak-ng speaks the mini corpus; a C compiler builds pysptk (MCD), which has no wheel;
# Debian's chromium and its driver run the browser tests of the recipe's pages
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    log "${missing[*]} missing: installing with apt-get"
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    ${sudo_cmd} apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ${sudo_cmd} apt-get install -y -qq "${missing[@]}" >/dev/null
fi

"${python}" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
    log "Python 3.11 is required (espnet 202511 is the newest ESPnet for it); got $(${python} --version 2>&1)."
    log "Set PYTHON=/path/to/python3.11 and run again."
    exit 1
}

key=$( { "${python}" --version 2>&1; cat "${lock}" "${mos_lock}"; } | sha256sum | cut -c1-16)
venv="${cache_dir}/venv-${key}"
if [ ! -f "${venv}/.complete" ]; then
    # The scripts of a venv name their interpreter by absolute path, so it is built
    # under its final name; the .complete marker, written last, says it is whole.
    log "building the pinned environment in ${venv} (once; several GB)"
    mkdir -p "${cache_dir}"
    rm -rf "${venv}"
    "${python}" -m venv "${venv}"
    "${venv}/bin/pip" install --quiet --disable-pip-version-check -r "${lock}"
    "${venv}/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        --target "${venv}/mos" -r "${mos_lock}"
    touch "${venv}/.complete"
else
    log "using the cached environment ${venv}"
fi

# the browser tests' pins, kept out of the environment's key so that changing them
# does not rebuild several GB; a marker per version of the pins says they are in
browser_key=$(sha256sum "${browser_lock}" | cut -c1-16)
if [ ! -f "${venv}/.browser-${browser_key}" ]; then
    log "installing the browser tests' pins (${browser_lock})"
    "${venv}/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "${browser_lock}"
    touch "${venv}/.browser-${browser_key}"
fi

"${venv}/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    --no-build-isolation -e "${repo}"
ln -sfn "${venv}" "${repo}/.venv"
log "ready: ${repo}/.venv ($("${venv}/bin/python" -c 'import espnet, torch; print(f"espnet {espnet.__version__}, torch {torch.__version__}")'))"
