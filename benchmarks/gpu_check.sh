#!/usr/bin/env bash
# The GPU measurements, in one go (about 5-8 minutes on one recent GPU), for a machine with a
# CUDA GPU that torch can see:
#   1. step time and peak CUDA memory, SNIPER / dense / torch.nn.utils.prune, at the mini
#      and the paper's size (python -m benchmarks.step_overhead --device cuda), in fp32
#   2. the same under ESPnet's AMP (--amp)
#   3. three SNIPER epochs of the paper-size model on CUDA, checked for exact zeros, zero
#      Adam moments and regrowth at the initial values, fp32 and AMP
#      (python -m benchmarks.cuda_sniper_epochs)
# Results go to benchmarks/results/gpu/*.json; python -m benchmarks.write_results_page shows
# them in docs/results.md.
#
#   benchmarks/gpu_check.sh [--out_dir DIR]
set -euo pipefail

out_dir=benchmarks/results/gpu   # where the JSON files go

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (gpu_check) $*" >&2; }
while [ $# -gt 0 ]; do
    case $1 in
        --out_dir) out_dir=$2; shift 2 ;;
        *) log "error: unknown argument $1 (usage: $0 [--out_dir DIR])"; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${repo}"
python=${repo}/.venv/bin/python
[ -x "${python}" ] || { log "error: ${python} missing: run tools/setup.sh first"; exit 1; }
export PYTHONPATH=${repo}
if ! "${python}" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    log "error: no CUDA GPU is visible to torch here (torch.cuda.is_available() is False);"
    log "error: run this script on a machine with an NVIDIA GPU and its driver"
    exit 1
fi
log "GPU: $("${python}" -c 'import torch; print(torch.cuda.get_device_name())')"
mkdir -p "${out_dir}"
start=${SECONDS}

log "1/3: step time and peak memory on CUDA, fp32 -> ${out_dir}/step_overhead_cuda.json"
"${python}" -m benchmarks.step_overhead --device cuda --out "${out_dir}/step_overhead_cuda.json"

log "2/3: the same under AMP -> ${out_dir}/step_overhead_cuda_amp.json"
"${python}" -m benchmarks.step_overhead --device cuda --amp \
    --out "${out_dir}/step_overhead_cuda_amp.json"

log "3/3: SNIPER epochs on CUDA, exact zeros -> ${out_dir}/cuda_sniper_epochs{,_amp}.json"
"${python}" -m benchmarks.cuda_sniper_epochs --out "${out_dir}/cuda_sniper_epochs.json"
"${python}" -m benchmarks.cuda_sniper_epochs --amp --out "${out_dir}/cuda_sniper_epochs_amp.json"

log "done in $((SECONDS - start)) s"
