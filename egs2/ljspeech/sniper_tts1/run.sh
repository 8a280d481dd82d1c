#!/usr/bin/env bash
# SNIPER training of FastSpeech2 (or JETS) on LJSpeech (or any corpus in LJSpeech's
# layout), from the corpus to an ESPnet model-zoo package.
#
#   ./run.sh                                   # everything, on LJSpeech (downloaded if missing)
#   ./run.sh --mini true                       # everything, on the generated mini corpus, CPU
#   ./run.sh --mini true --db_root /my/corpus  # the CPU configs on a corpus of your own
#   ./run.sh --stage 6 --stop_stage 6 --train_config conf/train_fastspeech2.yaml
#   ./run.sh --mini true --train_config conf/train_sniper_jets.yaml   # JETS (GAN TTS)
#   ./run.sh --help                            # every option with its default
#
# Stages:
#   1 data         download LJSpeech (or generate the mini corpus) -> data/{train,dev,eval}
#   2 validation   check every wav and transcript; phoneme token list
#   3 aligner      forward-sum aligner: trained, then every set aligned (Viterbi);
#                  or the Tacotron2 teacher: trained or fetched (JETS: skipped)
#   4 alignment    the teacher's durations (teacher-forced decoding); either's checked
#                  (JETS: skipped, it learns its own alignment)
#   5 statistics   feature, pitch and energy statistics
#   6 training     FastSpeech2 (or JETS, through ESPnet's GAN trainer) with SNIPER
#                  (--train_config)
#   7 synthesis    the eval set, Griffin-Lim (seeded) or --vocoder_tag (JETS: its own
#                  generator's waveforms)
#   8 scoring      log-mel distance, MCD, F0, length, MOS, ASR error rates (the recipe's
#                  own ASR judge, trained once per corpus, or --asr_model_tag/--whisper_tag),
#                  each beside its floor and a no-skill baseline -> exp/<tag>/RESULTS.md,
#                  results.json, mels.png, and the samples page exp/<tag>/samples/
#   9 packing      model-zoo zip, checked by unpacking and synthesizing in stock ESPnet
#  10 hub          the Hugging Face hub folder: the package and a model card with the
#                  hub's metadata; uploaded with --hf_repo
set -euo pipefail

# ---- options (each can be given as --name value) --------------------------------------
# general
stage=1                  # first stage to run
stop_stage=10            # last stage to run
ngpu=0                   # GPUs for training (>1: ESPnet's DDP on this node)
num_nodes=1              # >1: stage 6 goes through espnet2.bin.launch and --launch_cmd
launch_cmd=local/slurm.pl   # multi-node submission (SNIPER_SLURM_DRY_RUN=true: only print)
nj=2                     # parallel jobs for statistics
inference_nj=            # parallel jobs for synthesis and teacher alignment (default: nj)
gpu_inference=           # true: each synthesis/alignment job on a GPU (default: true when
                         # --ngpu > 0)
expdir=exp               # where every experiment goes (aligner, statistics, models)
dumpdir=dump             # where --feats_type fbank dumps its features
mini=false               # true: the conf/mini/ configs (CPU) and, without --db_root,
                         # the generated mini corpus
mini_num_utts=400        # utterances of the mini corpus
# data
db_root=                 # corpus in LJSpeech's layout (default: downloads/LJSpeech-1.1,
                         # with --mini true the generated downloads/LJSpeech-mini)
fs=22050                 # sample rate of the corpus
num_held_out=            # utterances of dev and of eval each (default: LJSpeech's share,
                         # 250 of 13,100; a small corpus 10 each, or a tenth of it)
skip_bad_utts=false      # true: drop the utterances that fail validation instead of stopping
max_text_chars=1000      # longest transcript accepted
# text
token_type=phn           # phonemes
g2p=espeak_ng_english_us_vits   # or g2p_en_no_space (the paper's; needs nltk data)
cleaner=tacotron         # ESPnet's text cleaner
# features
feats_type=raw           # raw: FastSpeech2 computes features on the fly (the paper's);
                         # fbank: stage 5 dumps them to Kaldi archives (large corpora)
n_fft=1024
n_shift=256
win_length=null
fmin=80
fmax=7600
n_mels=80
f0min=80
f0max=400
# durations
aligner=                 # forward_sum: an aligner trained on the corpus (the default);
                         # tacotron2: a Tacotron2 teacher, the paper's (the default with
                         # --teacher_model_tag); README.md says why
aligner_config=conf/align_forward_sum.yaml
teacher_config=conf/train_tacotron2_teacher.yaml
aligner_args=            # options for the aligner's training: the Tacotron2 teacher's
                         # ESPnet trainer (e.g. "--max_epoch 1") or the forward-sum aligner
                         # (e.g. "--steps 10"); they override its config
teacher_model_tag=       # a model-zoo Tacotron2 (name or local zip) instead of training one
min_focus_rate=0.5       # utterances whose attention focus is below this are reported
teacher_durations=mas    # mas: monotonic alignment search (every token >= 1 frame);
                         # argmax: ESPnet's duration calculator (tts.sh's teacher forcing)
allow_poor_durations=false  # true: go on when durations place words no better than
                         # equal shares per token (measured where word onsets are known)
# training
train_config=conf/train_sniper.yaml
train_args=              # options for the training, e.g. "--max_epoch 2"; they override
                         # the config (as tts.sh's)
tts_task=                # tts (FastSpeech2) or gan_tts (JETS); default: gan_tts for a
                         # config with tts: jets, tts otherwise
tag=                     # experiment name (default: from the config's file name)
seed=                    # seed of the aligner and of training (default: the configs')
# synthesis, scoring, packing
inference_config=conf/decode.yaml   # synthesis config (tts.sh's name; was --decode_config)
inference_args=          # options for synthesis, e.g. "--speed_control_alpha 1.1"; they
                         # override the config (as tts.sh's)
inference_model=         # default valid.loss.ave.pth; GAN TTS: train.total_count.ave.pth
                         # (the last epochs averaged, as ESPnet's JETS recipe)
vocoder_tag=             # a model-zoo vocoder (needs network); default Griffin-Lim
mos=distillmos           # no-reference MOS predictor of stage 8 (none: skip it)
asr=judge                # intelligibility (CER/WER) of stage 8: judge (the recipe's own ASR,
                         # trained once per corpus on data/train, cached in <expdir>/asr_judge)
                         # or none; the three options below replace the judge
asr_judge_config=conf/asr_judge.yaml
asr_judge_args=          # options for the judge's training, e.g. "--max_epoch 2"
asr_model_tag=           # an ESPnet model-zoo ASR (needs network), as evaluate_asr.sh's
asr_model_file=          # a local ESPnet ASR: its model file and, with it, its config
asr_train_config=
whisper_tag=             # OpenAI Whisper, e.g. large-v3 (pip install openai-whisper; network)
listening_exps=          # other experiments for stage 8's listening-test kit beside this
                         # model, "NAME=EXP_DIR ...", e.g. "dense=exp/tts_train_fastspeech2
                         # constant=exp/tts_train_sparsity40" (the paper's three-way test)
score_references=        # results.json of an earlier stage 8 on the same eval set: its
                         # floor and baseline are reused, not computed again
hf_repo=                 # upload stage 10's hub folder to this Hugging Face repo, user/name
                         # (needs network and a token); without it the folder is only written
# ---------------------------------------------------------------------------------------

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "${here}"
. ./path.sh
. ./local/common.sh
parse_options "${here}/run.sh" "$@"

generate_mini=false
if [ "${mini}" = true ]; then
    if [ -z "${db_root}" ]; then
        db_root=downloads/LJSpeech-mini generate_mini=true
    fi
    # the paper-size defaults become their conf/mini/ twins
    for var in aligner_config teacher_config train_config; do
        value=${!var}
        if [[ ${value} == conf/* && -f conf/mini/${value#conf/} ]]; then
            printf -v "${var}" '%s' "conf/mini/${value#conf/}"
        fi
    done
fi
: "${db_root:=downloads/LJSpeech-1.1}"
if [ -z "${aligner}" ]; then
    aligner=forward_sum
    if [ -n "${teacher_model_tag}" ]; then aligner=tacotron2; fi
fi
[ -n "${tag}" ] || tag=tts_$(basename "${train_config}" .yaml)$([ "${mini}" = true ] && echo _mini || true)
[ -f "${train_config}" ] || die "--train_config ${train_config} does not exist"
case ${aligner} in
    forward_sum) [ -f "${aligner_config}" ] || die "--aligner_config ${aligner_config} does not exist"
                 [ -z "${teacher_model_tag}" ] || die "--teacher_model_tag needs --aligner tacotron2" ;;
    tacotron2) [ -f "${teacher_config}" ] || die "--teacher_config ${teacher_config} does not exist" ;;
    *) die "--aligner must be forward_sum or tacotron2, got ${aligner}" ;;
esac
case ${allow_poor_durations} in true|false) ;; *) die "--allow_poor_durations must be true or false" ;; esac
[[ -z ${seed} || ${seed} =~ ^[0-9]+$ ]] || die "--seed must be a non-negative number, got ${seed}"
[[ -z ${num_held_out} || ${num_held_out} =~ ^[1-9][0-9]*$ ]] \
    || die "--num_held_out must be a positive number, got ${num_held_out}"
case ${mos} in distillmos|none) ;; *) die "--mos must be distillmos or none, got ${mos}" ;; esac
case ${asr} in judge|none) ;; *) die "--asr must be judge or none, got ${asr}" ;; esac
user_threads=${OMP_NUM_THREADS-}
case "${user_threads}" in ''|*[!0-9]*|0) [ -z "${user_threads}" ] \
    || die "OMP_NUM_THREADS=${user_threads}: a positive number of threads, or unset it" ;; esac
asr_spec=
[ -z "${asr_model_tag}" ] || asr_spec=zoo:${asr_model_tag}
if [ -n "${asr_model_file}${asr_train_config}" ]; then
    [ -z "${asr_spec}" ] || die "give one ASR: --asr_model_tag, --asr_model_file or --whisper_tag"
    [ -f "${asr_model_file}" ] || die "--asr_model_file '${asr_model_file}' does not exist"
    [ -f "${asr_train_config}" ] || die "--asr_train_config '${asr_train_config}' does not exist (--asr_model_file needs it)"
    asr_spec=espnet:${asr_train_config},${asr_model_file}
fi
if [ -n "${whisper_tag}" ]; then
    [ -z "${asr_spec}" ] || die "give one ASR: --asr_model_tag, --asr_model_file or --whisper_tag"
    asr_spec=whisper:${whisper_tag}
fi
[ "${asr}" = none ] || [ -n "${asr_spec}" ] || [ -f "${asr_judge_config}" ] \
    || die "--asr_judge_config ${asr_judge_config} does not exist"
: "${inference_nj:=${nj}}"
[[ ${inference_nj} =~ ^[1-9][0-9]*$ ]] || die "--inference_nj must be a positive number, got ${inference_nj}"
if [ -z "${gpu_inference}" ]; then
    gpu_inference=false
    [ "${ngpu}" -eq 0 ] || gpu_inference=true
fi
case ${gpu_inference} in true|false) ;; *) die "--gpu_inference must be true or false, got ${gpu_inference}" ;; esac
# tts.sh's pass-through options, split into words as tts.sh does
read -r -a train_args <<< "${train_args}"
read -r -a inference_args <<< "${inference_args}"
read -r -a aligner_args <<< "${aligner_args}"
read -r -a listening_exps <<< "${listening_exps}"
for system in "${listening_exps[@]}"; do
    [[ ${system} == ?*=?* && -d ${system#*=} ]] \
        || die "--listening_exps: '${system}' is not NAME=EXP_DIR of an existing experiment"
done
case ${feats_type} in
    raw|fbank) ;;
    *) die "--feats_type must be raw or fbank, got ${feats_type}" ;;
esac
case ${teacher_durations} in
    mas|argmax) ;;
    *) die "--teacher_durations must be mas or argmax, got ${teacher_durations}" ;;
esac
model_type=$(sed -n 's/^tts: *\([A-Za-z0-9_]*\).*/\1/p' "${train_config}" | head -n 1)
[ -n "${model_type}" ] || die "${train_config} has no top-level 'tts:' key: is it a TTS training config?"
if [ -z "${tts_task}" ]; then
    tts_task=tts
    [ "${model_type}" != jets ] || tts_task=gan_tts
fi
case ${tts_task} in
    tts) : "${inference_model:=valid.loss.ave.pth}" ;;
    gan_tts)
        [ "${model_type}" = jets ] || die "--tts_task gan_tts: the recipe trains JETS (tts: jets), ${train_config} has tts: ${model_type}"
        [ "${feats_type}" = raw ] || die "JETS trains on waveforms: --feats_type must be raw"
        [ -z "${vocoder_tag}" ] || die "JETS makes its own waveforms: --vocoder_tag is for FastSpeech2"
        : "${inference_model:=train.total_count.ave.pth}" ;;
    *) die "--tts_task must be tts or gan_tts, got ${tts_task}" ;;
esac
train_module=espnet_sniper.bin.${tts_task}_train
# what the statistics and training stages feed the model: FastSpeech2 reads durations and
# the pitch and energy of the statistics stage, JETS computes them from the waveforms
feeds=fastspeech2
[ "${tts_task}" = tts ] || feeds=jets

token_list=data/token_list/${g2p}/tokens.txt
teacher_dir=${expdir}/teacher_$(basename "${teacher_config}" .yaml)
if [ -n "${teacher_model_tag}" ]; then
    teacher_dir=${expdir}/teacher_pretrained_$(basename "${teacher_model_tag}" .zip | tr -c 'A-Za-z0-9_.\n-' _)
fi
aligner_dir=${expdir}/aligner_$(basename "${aligner_config}" .yaml)
[ "${aligner}" = forward_sum ] || aligner_dir=${teacher_dir}
stats_dir=${expdir}/${model_type}_stats_${feats_type}
tts_exp=${expdir}/${tag}
fbank_args=(--feats_extract fbank --feats_extract_conf "fs=${fs}" --feats_extract_conf "n_fft=${n_fft}"
    --feats_extract_conf "hop_length=${n_shift}" --feats_extract_conf "win_length=${win_length}"
    --feats_extract_conf "fmin=${fmin}" --feats_extract_conf "fmax=${fmax}"
    --feats_extract_conf "n_mels=${n_mels}")
text_args=(--token_type "${token_type}" --token_list "${token_list}" --cleaner "${cleaner}"
    --g2p "${g2p}" --non_linguistic_symbols none)
prosody_args=(--pitch_extract_conf "fs=${fs}" --pitch_extract_conf "n_fft=${n_fft}"
    --pitch_extract_conf "hop_length=${n_shift}" --pitch_extract_conf "f0max=${f0max}"
    --pitch_extract_conf "f0min=${f0min}" --energy_extract_conf "fs=${fs}"
    --energy_extract_conf "n_fft=${n_fft}" --energy_extract_conf "hop_length=${n_shift}"
    --energy_extract_conf "win_length=${win_length}")

if stage_on 1; then
    log "stage 1: data: ${db_root} -> data/{train,dev,eval}"
    if [ "${generate_mini}" = true ]; then
        python -m espnet_sniper.recipe.corpus.mini_corpus --out_dir "${db_root}" --num_utts "${mini_num_utts}"
    elif [ ! -f "${db_root}/metadata.csv" ]; then
        [ "${db_root}" = downloads/LJSpeech-1.1 ] \
            || die "--db_root ${db_root} has no metadata.csv: is it a corpus in LJSpeech's layout?"
        local/download_ljspeech.sh "$(dirname "${db_root}")"
    fi
    python local/data_prep.py --db_root "${db_root}" --data_dir data \
        ${num_held_out:+--num_held_out "${num_held_out}"}
fi

if stage_on 2; then
    log "stage 2: validation and text: wavs, transcripts, ${g2p} token list"
    python -m espnet_sniper.recipe.validate_data data/train data/dev data/eval --fs "${fs}" \
        --skip_bad_utts "${skip_bad_utts}" --max_text_chars "${max_text_chars}"
    mkdir -p "$(dirname "${token_list}")"
    python -m espnet2.bin.tokenize_text --token_type "${token_type}" -f 2- \
        --input data/train/text --output "${token_list}.tmp" \
        --non_linguistic_symbols none --cleaner "${cleaner}" --g2p "${g2p}" \
        --write_vocabulary true --add_symbol "<blank>:0" --add_symbol "<unk>:1" \
        --add_symbol "<sos/eos>:-1"
    mv "${token_list}.tmp" "${token_list}"
    log "token list: $(wc -l < "${token_list}") tokens in ${token_list}"
fi

if stage_on 3; then
    if [ "${tts_task}" = gan_tts ]; then
        log "stage 3: aligner: skipped (${model_type} learns its own alignment)"
    elif [ "${aligner}" = forward_sum ]; then
        log "stage 3: aligner: forward-sum aligner trained on data/train, aligning every set -> ${aligner_dir}"
        python -m espnet_sniper.recipe.alignment.forward_sum --config "${aligner_config}" --train_dir data/train \
            --data_dirs data/{train,dev,eval} --token_list "${token_list}" \
            --out_dir "${aligner_dir}" --token_type "${token_type}" \
            --g2p "${g2p}" --cleaner "${cleaner}" --fs "${fs}" --n_fft "${n_fft}" \
            --n_shift "${n_shift}" --win_length "${win_length}" --n_mels "${n_mels}" \
            --fmin "${fmin}" --fmax "${fmax}" ${seed:+--seed "${seed}"} "${aligner_args[@]}"
    elif [ -n "${teacher_model_tag}" ]; then
        log "stage 3: aligner: Tacotron2 teacher ${teacher_model_tag} from the ESPnet model zoo"
        python -m espnet_sniper.recipe.alignment.fetch_teacher --tag "${teacher_model_tag}" --out_dir "${teacher_dir}"
    else
        log "stage 3: aligner: statistics, then Tacotron2 teacher training -> ${teacher_dir}"
        collect_stats espnet2.bin.tts_train "${teacher_config}" "${teacher_dir}/stats" teacher
        run_training espnet2.bin.tts_train "${teacher_config}" "${teacher_dir}" \
            "${teacher_dir}/stats" teacher "${aligner_args[@]}"
        ln -sfn "$(basename "$(readlink -f "${teacher_dir}/valid.loss.best.pth")")" \
            "${teacher_dir}/teacher.pth"
    fi
fi

if stage_on 4 && [ "${tts_task}" = gan_tts ]; then
    log "stage 4: alignment: skipped (${model_type} learns its own alignment)"
elif stage_on 4; then
    log "stage 4: alignment: ${aligner} durations, checked -> data/*/durations"
    if [ "${aligner}" = tacotron2 ]; then
        teacher_align_sets "${aligner_dir}" train dev eval
    fi
    truth_args=()
    # the mini corpus knows where espeak-ng started each word: measure the durations on it
    if [ -f "${db_root}/word_onsets.txt" ]; then
        truth_args=(--word_onsets "${db_root}/word_onsets.txt" --token_type "${token_type}"
            --g2p "${g2p}" --cleaner "${cleaner}")
    fi
    python -m espnet_sniper.recipe.alignment.check_durations --data_dirs data/train data/dev data/eval \
        --align_dirs "${aligner_dir}"/align_{train,dev,eval} --n_shift "${n_shift}" \
        --min_focus_rate "${min_focus_rate}" --allow_poor_durations "${allow_poor_durations}" \
        "${truth_args[@]}" --report "${aligner_dir}/alignment_quality.json"
fi

if stage_on 5; then
    log "stage 5: statistics: features, pitch and energy (${feats_type}) -> ${stats_dir}"
    collect_stats "${train_module}" "${train_config}" "${stats_dir}" "${feeds}"
    if [ "${feats_type}" = fbank ]; then
        python -m espnet_sniper.recipe.dump_feats --feats_scp "${stats_dir}/train/collect_feats/feats.scp" \
            --out_dir "${dumpdir}/fbank/train"
        python -m espnet_sniper.recipe.dump_feats --feats_scp "${stats_dir}/valid/collect_feats/feats.scp" \
            --out_dir "${dumpdir}/fbank/dev"
    fi
fi

# The ASR judge needs only the recordings: when stage 8 will train it, it trains from here on
# in the background, on one thread, beside stages 6-7; stage 8 waits for it (the judge's
# lock). It gets a core of its own: while it trains, each stage's programs start with one
# thread fewer than the machine has cores (share_cores). It starts after stage 5 because a
# second thread is worth least to the training: on the 2-core machine it speeds the mini
# training by about 11 % and the aligner of stage 3 by about 38 %, while sharing a core with
# the judge halves either (torch's threads wait for each other at every parallel operation).
judge_cmd=(python -m espnet_sniper.recipe.evaluation.asr_judge --train_dir data/train --valid_dir data/dev
    --config "${asr_judge_config}" --cache_dir "${expdir}/asr_judge" --train_args "${asr_judge_args}")
judge_pid=
if [ -z "${asr_spec}" ] && [ "${asr}" = judge ] && stage_on 8 && [ "${stage}" -lt 8 ]; then
    mkdir -p "${expdir}/asr_judge"
    log "the ASR judge trains in the background (one thread) -> ${expdir}/asr_judge/background.log"
    OMP_NUM_THREADS=1 "${judge_cmd[@]}" > "${expdir}/asr_judge/background.log" 2>&1 &
    judge_pid=$!
    # a run that stops before stage 8 stops the judge too (it resumes next time)
    trap 'kill "${judge_pid}" 2>/dev/null || true' EXIT
fi
# share_cores: called as each stage starts; the threads of its programs, given the judge
share_cores() {
    local threads=${user_threads}
    if [ -n "${judge_pid}" ] && kill -0 "${judge_pid}" 2>/dev/null; then
        local cores spare
        cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys both
        spare=$(( cores > 1 ? cores - 1 : 1 ))
        [ -n "${threads}" ] && [ "${threads}" -le "${spare}" ] || threads=${spare}
    fi
    if [ -n "${threads}" ]; then export OMP_NUM_THREADS=${threads}; else unset OMP_NUM_THREADS; fi
}

if stage_on 6; then
    share_cores
    log "stage 6: training: ${train_config} -> ${tts_exp}"
    [ -f "${stats_dir}/train/feats_stats.npz" ] || die "run stage 5 first"
    [ "${feats_type}" = raw ] || [ -f "${dumpdir}/fbank/dev/feats.scp" ] \
        || die "no feature dump for --feats_type ${feats_type}: run stage 5 with it first"
    run_training "${train_module}" "${train_config}" "${tts_exp}" "${stats_dir}" "${feeds}" \
        ${seed:+--seed "${seed}"} "${train_args[@]}"
fi

if stage_on 7; then
    share_cores
    log "stage 7: synthesis: data/eval with ${tts_exp}/${inference_model}"
    # Griffin-Lim's parameters: a raw model knows them, an fbank model (no front end) not
    printf '%s\n' "fs: ${fs}" "n_fft: ${n_fft}" "n_shift: ${n_shift}" "win_length: ${win_length}" \
        "n_mels: ${n_mels}" "fmin: ${fmin}" "fmax: ${fmax}" "griffin_lim_iters: 8" \
        > "${tts_exp}/griffin_lim.yaml"
    vocoder_args=(--vocoder_config "${tts_exp}/griffin_lim.yaml")
    if [ -n "${vocoder_tag}" ]; then
        vocoder_args=(--vocoder_tag "${vocoder_tag}")
    elif [ "${tts_task}" = gan_tts ]; then
        vocoder_args=()  # the generator's waveforms; Griffin-Lim's parameters serve scoring
    fi
    decode_sets data/eval "${tts_exp}/decode_eval" \
        --model_file "${tts_exp}/${inference_model}" --train_config "${tts_exp}/config.yaml" \
        --config "${inference_config}" "${vocoder_args[@]}" "${inference_args[@]}"
    if [ -z "${vocoder_tag}" ] && [ "${tts_task}" = tts ]; then
        # ESPnet's Griffin-Lim draws its phases from fresh entropy: vocode again, seeded,
        # so that stage 8 scores the same wavs on every run
        python -m espnet_sniper.recipe.griffin_lim --feats_scp "${tts_exp}/decode_eval/denorm_feats.scp" \
            --config "${tts_exp}/griffin_lim.yaml" --out_dir "${tts_exp}/decode_eval/wav"
    fi
fi

if stage_on 8; then
    log "stage 8: scoring: ${tts_exp}/decode_eval against the recordings, with floor and baseline"
    feats_args=()  # the model's features before the vocoder, where it has both
    [ ! -s "${tts_exp}/decode_eval/denorm_feats.scp" ] \
        || feats_args=(--gen_feats_scp "${tts_exp}/decode_eval/denorm_feats.scp")
    asr_args=()
    if [ -z "${asr_spec}" ] && [ "${asr}" = judge ]; then
        log "stage 8: the ASR judge (trained on data/train once per corpus) -> ${expdir}/asr_judge"
        judge_dir=$("${judge_cmd[@]}")
        asr_spec=judge:${judge_dir}
        # the background judge has finished (stage 8 had its lock): its core is free again
        [ -z "${judge_pid}" ] || wait "${judge_pid}" || true
        share_cores
    fi
    [ -z "${asr_spec}" ] || asr_args=(--asr "${asr_spec}" --text data/eval/text)
    mos_env=()
    if [ "${mos}" = distillmos ]; then
        # tools/setup.sh installs DistillMOS outside site-packages, in <venv>/mos (see
        # tools/mos-requirements.lock): the scorer alone has it on its path
        mos_env=(env "PYTHONPATH=$(python -c 'import sys; print(sys.prefix)')/mos${PYTHONPATH:+:${PYTHONPATH}}")
    fi
    "${mos_env[@]}" python -m espnet_sniper.recipe.evaluation.score --ref_wav_scp data/eval/wav.scp --gen_wav_dir "${tts_exp}/decode_eval/wav" \
        "${feats_args[@]}" "${asr_args[@]}" \
        --vocoder_config "${tts_exp}/griffin_lim.yaml" --f0min "${f0min}" --f0max "${f0max}" \
        --mos "${mos}" ${score_references:+--reuse_references "${score_references}"} \
        --out_dir "${tts_exp}"
    python -m espnet_sniper.recipe.evaluation.plot_mels --ref_wav_scp data/eval/wav.scp --gen_wav_dir "${tts_exp}/decode_eval/wav" \
        --fs "${fs}" --n_fft "${n_fft}" --n_shift "${n_shift}" --n_mels "${n_mels}" --fmin "${fmin}" \
        --fmax "${fmax}" --out "${tts_exp}/mels.png"
    log "stage 8: samples page -> ${tts_exp}/samples/index.html"
    python -m espnet_sniper.recipe.evaluation.samples_page --system "${tag}=${tts_exp}" \
        --ref_wav_scp data/eval/wav.scp --text data/eval/text --fs "${fs}" --n_fft "${n_fft}" \
        --n_shift "${n_shift}" --n_mels "${n_mels}" --fmin "${fmin}" --fmax "${fmax}" \
        --out_dir "${tts_exp}/samples"
    if [ ${#listening_exps[@]} -gt 0 ]; then
        log "stage 8: listening-test kit of ${tag} beside ${listening_exps[*]} -> ${tts_exp}/listening_test"
        rm -rf "${tts_exp}/listening_test"
        python -m espnet_sniper.recipe.evaluation.listening_test --system "${tag}=${tts_exp}" \
            $(printf -- '--system %s ' "${listening_exps[@]}") \
            --ref_wav_scp data/eval/wav.scp --text data/eval/text --out_dir "${tts_exp}/listening_test"
    fi
fi

if stage_on 9; then
    log "stage 9: packing: ${tts_exp}/packed/${tag}.zip"
    python -m espnet_sniper.recipe.publish.model_card --exp_dir "${tts_exp}" --tag "${tag}" \
        --train_config "${tts_exp}/config.yaml" --inference_model "${inference_model}" \
        --fs "${fs}" --out "${tts_exp}/README.md"
    mkdir -p "${tts_exp}/packed"
    python -m espnet2.bin.pack tts --train_config "${tts_exp}/config.yaml" \
        --model_file "${tts_exp}/${inference_model}" --option "${tts_exp}/README.md" \
        --option "${tts_exp}/RESULTS.md" --option "${tts_exp}/results.json" \
        --option "${stats_dir}/train/feats_stats.npz" \
        --option "${stats_dir}/train/pitch_stats.npz" \
        --option "${stats_dir}/train/energy_stats.npz" --option "${tts_exp}/griffin_lim.yaml" \
        --outpath "${tts_exp}/packed/${tag}.partial.zip"
    mv "${tts_exp}/packed/${tag}.partial.zip" "${tts_exp}/packed/${tag}.zip"
    vocoder_args=(--vocoder_config "${tts_exp}/griffin_lim.yaml")
    [ "${tts_task}" = tts ] || vocoder_args=()
    python -m espnet_sniper.recipe.publish.check_package --zip "${tts_exp}/packed/${tag}.zip" "${vocoder_args[@]}"
fi

if stage_on 10; then
    log "stage 10: hub: ${tts_exp}/hub (the package and its model card with the hub's metadata)"
    corpus=custom
    if [ "${generate_mini}" = true ]; then
        corpus=mini
    elif [ "$(basename "${db_root}")" = LJSpeech-1.1 ]; then
        corpus=ljspeech
    fi
    python -m espnet_sniper.recipe.publish.hub_folder --zip "${tts_exp}/packed/${tag}.zip" --card "${tts_exp}/README.md" \
        --corpus "${corpus}" ${hf_repo:+--repo_id "${hf_repo}"} --out_dir "${tts_exp}/hub"
    if [ -n "${hf_repo}" ]; then
        log "stage 10: uploading ${tts_exp}/hub to https://huggingface.co/${hf_repo}"
        python -m espnet_sniper.recipe.publish.upload_hf --folder "${tts_exp}/hub" --repo "${hf_repo}"
    fi
fi

log "done: stages ${stage}-${stop_stage}"
