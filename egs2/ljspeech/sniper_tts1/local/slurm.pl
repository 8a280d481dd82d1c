#!/usr/bin/env bash
# Submits a multi-node job to Slurm for espnet2.bin.launch, which recognises its
# submission command by the name "slurm.pl" (Kaldi's) and calls it as
#   slurm.pl --gpu G --num_threads T --num_nodes N LOG srun --export=ALL COMMAND...
# This one is ours, a bash script under that name: it runs the srun line in one sbatch
# job of N nodes with G GPUs each and waits for it. SNIPER_SLURM_DRY_RUN=true prints the
# sbatch command instead of submitting it.
set -euo pipefail

gpu=0
num_threads=1
num_nodes=1
sbatch_options=${SNIPER_SBATCH_OPTIONS:-}   # e.g. "--partition gpu --time 3-00:00:00"

while [[ $# -gt 0 && $1 == --* ]]; do
    case $1 in
        --gpu) gpu=$2 ;;
        --num_threads) num_threads=$2 ;;
        --num_nodes) num_nodes=$2 ;;
        *) echo "error: $0: unknown option $1" >&2; exit 1 ;;
    esac
    shift 2
done
log=${1:?usage: $0 [--gpu G] [--num_threads T] [--num_nodes N] LOG COMMAND...}
shift
[ $# -gt 0 ] || { echo "error: $0: no command to run" >&2; exit 1; }

cmd=(sbatch --wait --nodes "${num_nodes}" --ntasks-per-node 1 --cpus-per-task "${num_threads}"
     --output "${log}")
if [ "${gpu}" -gt 0 ]; then cmd+=(--gres "gpu:${gpu}"); fi
# shellcheck disable=SC2206
cmd+=(${sbatch_options} --wrap "$(printf '%q ' "$@")")

if [ "${SNIPER_SLURM_DRY_RUN:-false}" = true ]; then
    printf '%q ' "${cmd[@]}"
    echo
    exit 0
fi
mkdir -p "$(dirname "${log}")"
"${cmd[@]}"
