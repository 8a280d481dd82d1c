#!/usr/bin/env bash
# Shell helpers of run.sh: option parsing, logging, and the ESPnet calls that several
# stages share (statistics, training, parallel decoding). Sourced, not run.

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*" >&2; }
die() { log "error: $*"; exit 1; }

# The option block of run.sh: the lines between the two "# ----" markers.
_option_lines() { sed -n '/^# ---- options/,/^# ------/p' "$1" | sed '1d;$d'; }

# Options that took ESPnet tts.sh's names: the old spelling stops with the new one.
declare -A RENAMED_OPTIONS=([decode_config]=inference_config)

# parse_options SCRIPT ARGS...: --name value for every option of the block; --help.
parse_options() {
    local script=$1; shift
    local names
    names=$(_option_lines "${script}" | sed -n 's/^\([a-z_0-9]*\)=.*/\1/p')
    while [ $# -gt 0 ]; do
        case $1 in
            --help|-h)
                sed -n '2,/^set -euo/p' "${script}" | sed '$d' | sed 's/^# \{0,1\}//'
                echo "Options (default after '='):"
                _option_lines "${script}" | sed -e 's/^\([a-z]\)/  --\1/' -e 's/^# /  # /'
                exit 0 ;;
            --*)
                local name=${1#--}
                name=${name//-/_}
                [ -z "${RENAMED_OPTIONS[${name}]:-}" ] \
                    || die "--${name} is now --${RENAMED_OPTIONS[${name}]} (ESPnet tts.sh's name)"
                grep -qx "${name}" <<< "${names}" || die "unknown option --${name} (see --help)"
                [ $# -ge 2 ] || die "option --${name} needs a value"
                printf -v "${name}" '%s' "$2"
                shift 2 ;;
            *) die "unexpected argument '$1' (options are --name value; see --help)" ;;
        esac
    done
    case ${mini} in true|false) ;; *) die "--mini must be true or false, got ${mini}";; esac
    [[ ${stage} =~ ^[0-9]+$ && ${stop_stage} =~ ^[0-9]+$ ]] || die "--stage/--stop_stage must be numbers"
    [[ ${nj} =~ ^[1-9][0-9]*$ ]] || die "--nj must be a positive number, got ${nj}"
}

stage_on() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }

# split_keys SCP OUT_PREFIX N [BLOCK]: the keys of SCP in N files OUT_PREFIX.{1..N}, dealt
# out in blocks of BLOCK (1) consecutive keys.
split_keys() {
    local scp=$1 prefix=$2 n=$3 block=${4:-1}
    awk -v n="${n}" -v b="${block}" -v p="${prefix}" \
        '{ print $1 " " $1 > (p "." (int((NR - 1) / b) % n + 1)) }' "${scp}"
}

# _data_args SET PREFIX WITH_DURATIONS [PROSODY_DIR [FEATS_DIR]]: ESPnet's
# --{train,valid}_data_path_and_name_and_type. PROSODY_DIR holds pitch.scp and energy.scp
# written by the statistics stage, so training does not run dio on every batch; FEATS_DIR
# holds dumped features (--feats_type fbank) read instead of the waveforms.
_data_args() {
    local dset=$1 prefix=$2 durations=$3 prosody=${4:-} feats=${5:-}
    echo "--${prefix}_data_path_and_name_and_type data/${dset}/text,text,text"
    if [ -n "${feats}" ]; then
        echo "--${prefix}_data_path_and_name_and_type ${feats}/feats.scp,speech,kaldi_ark"
    else
        echo "--${prefix}_data_path_and_name_and_type data/${dset}/wav.scp,speech,sound"
    fi
    if [ "${durations}" = true ]; then
        echo "--${prefix}_data_path_and_name_and_type data/${dset}/durations,durations,text_int"
    fi
    if [ -n "${prosody}" ]; then
        echo "--${prefix}_data_path_and_name_and_type ${prosody}/pitch.scp,pitch,npy"
        echo "--${prefix}_data_path_and_name_and_type ${prosody}/energy.scp,energy,npy"
    fi
}

# What a model is fed (FEEDS): teacher (text and waveforms), fastspeech2 (also durations,
# and the pitch and energy the statistics stage writes), jets (pitch and energy computed
# from the waveforms as it trains).
_durations() { if [ "$1" = fastspeech2 ]; then echo true; else echo false; fi; }

# collect_stats MODULE CONFIG OUT_DIR FEEDS: ESPnet's --collect_stats over nj jobs,
# aggregated into OUT_DIR/{train,valid}, with the shape files the training reads.
collect_stats() {
    local module=$1 config=$2 out=$3 feeds=$4
    local durations
    durations=$(_durations "${feeds}")
    local logdir=${out}/logdir
    rm -rf "${logdir}" && mkdir -p "${logdir}"
    # every job needs both train and dev utterances: no more jobs than either set has
    local jobs=${nj} n_train n_dev
    n_train=$(wc -l < data/train/wav.scp) n_dev=$(wc -l < data/dev/wav.scp)
    [ "${n_train}" -ge "${jobs}" ] || jobs=${n_train}
    [ "${n_dev}" -ge "${jobs}" ] || jobs=${n_dev}
    split_keys data/train/wav.scp "${logdir}/train" "${jobs}"
    split_keys data/dev/wav.scp "${logdir}/dev" "${jobs}"
    local extra=() pids=() n
    if [ "${feeds}" != teacher ]; then extra=("${prosody_args[@]}"); fi
    for n in $(seq "${jobs}"); do
        # shellcheck disable=SC2046
        python -m "${module}" --collect_stats true --write_collected_feats "${durations}" \
            --use_preprocessor true --config "${config}" --output_dir "${logdir}/stats.${n}" \
            --ngpu 0 --normalize none --pitch_normalize none --energy_normalize none \
            "${text_args[@]}" "${fbank_args[@]}" "${extra[@]}" \
            $(_data_args train train "${durations}") $(_data_args dev valid "${durations}") \
            --train_shape_file "${logdir}/train.${n}" --valid_shape_file "${logdir}/dev.${n}" \
            > "${logdir}/stats.${n}.log" 2>&1 &
        pids+=($!)
    done
    for n in "${pids[@]}"; do wait "${n}" || die "statistics failed: see ${logdir}/stats.*.log"; done
    python -m espnet2.bin.aggregate_stats_dirs $(for d in "${logdir}"/stats.*/; do echo --input_dir "${d}"; done) \
        --output_dir "${out}"
    local vocab
    vocab=$(wc -l < "${token_list}")
    for split in train valid; do
        awk -v N="${vocab}" '{ print $0 "," N }' "${out}/${split}/text_shape" \
            > "${out}/${split}/text_shape.${token_type}"
    done
}

# run_training MODULE CONFIG OUT_DIR STATS_DIR FEEDS [ARGS...]: resumable; logs to
# OUT_DIR/train.log; ARGS go to the trainer last (they override the config).
# FastSpeech2 reads the pitch and energy of the statistics stage and, with --feats_type
# fbank, the dumped features (the teacher and JETS always read waveforms).
run_training() {
    local module=$1 config=$2 out=$3 stats=$4 feeds=$5
    shift 5
    local durations
    durations=$(_durations "${feeds}")
    local extra=() prosody_train= prosody_valid= feats_train= feats_valid=
    local features=("${fbank_args[@]}")
    local shapes=("${stats}/train/speech_shape" "${stats}/valid/speech_shape")
    if [ "${feeds}" != teacher ]; then
        extra=("${prosody_args[@]}"
            --pitch_normalize_conf "stats_file=${stats}/train/pitch_stats.npz"
            --energy_normalize_conf "stats_file=${stats}/train/energy_stats.npz")
    fi
    if [ "${feeds}" = fastspeech2 ]; then
        prosody_train=${stats}/train/collect_feats prosody_valid=${stats}/valid/collect_feats
        if [ "${feats_type}" = fbank ]; then
            feats_train=${dumpdir}/fbank/train feats_valid=${dumpdir}/fbank/dev
            features=(--odim "${n_mels}")
            shapes=("${feats_train}/feats_shape" "${feats_valid}/feats_shape")
        fi
    fi
    local launcher=() console=${out}/train.log
    if [ "${num_nodes}" -gt 1 ]; then
        # ESPnet's launcher adds --ngpu, --multiprocessing_distributed and the init method;
        # the job writes train.log, the launcher's own messages go to launch.log
        launcher=(python -m espnet2.bin.launch --cmd "${launch_cmd}" --log "${out}/train.log"
            --ngpu "${ngpu}" --num_nodes "${num_nodes}" --)
        console=${out}/launch.log
    elif [ "${ngpu}" -gt 1 ]; then
        extra+=(--multiprocessing_distributed true)
    fi
    mkdir -p "${out}"
    log "training log: ${out}/train.log"
    # shellcheck disable=SC2046
    "${launcher[@]}" python -m "${module}" --config "${config}" --output_dir "${out}" \
        --ngpu "${ngpu}" --resume true --use_preprocessor true "${text_args[@]}" "${features[@]}" \
        --normalize global_mvn --normalize_conf "stats_file=${stats}/train/feats_stats.npz" \
        "${extra[@]}" $(_data_args train train "${durations}" "${prosody_train}" "${feats_train}") \
        $(_data_args dev valid "${durations}" "${prosody_valid}" "${feats_valid}") \
        --train_shape_file "${stats}/train/text_shape.${token_type}" \
        --train_shape_file "${shapes[0]}" \
        --valid_shape_file "${stats}/valid/text_shape.${token_type}" \
        --valid_shape_file "${shapes[1]}" "$@" \
        >> "${console}" 2>&1 || die "training failed: see ${console}"
}

# run_jobs WHAT DATA_DIR LOGDIR BLOCK COMMAND...: COMMAND on inference_nj slices of DATA_DIR's
# utterances (blocks of BLOCK consecutive ones kept whole) in parallel, each given
# --key_file LOGDIR/keys.N --output_dir LOGDIR/output.N and logging to LOGDIR/WHAT.N.log;
# stops the run if any fails.
run_jobs() {
    local what=$1 data=$2 logdir=$3 block=$4; shift 4
    local pids=() n
    rm -rf "${logdir}" && mkdir -p "${logdir}"
    split_keys "${data}/text" "${logdir}/keys" "${inference_nj}" "${block}"
    for n in $(seq "${inference_nj}"); do
        [ -s "${logdir}/keys.${n}" ] || continue
        "$@" --key_file "${logdir}/keys.${n}" --output_dir "${logdir}/output.${n}" \
            > "${logdir}/${what}.${n}.log" 2>&1 &
        pids+=($!)
    done
    for n in "${pids[@]}"; do wait "${n}" || die "${what} failed: see ${logdir}/${what}.*.log"; done
}

# GPUs of one decoding job: one with --gpu_inference true.
_job_ngpu() { if [ "${gpu_inference}" = true ]; then echo 1; else echo 0; fi; }

# teacher_align_sets ALIGNER_DIR SET...: the Tacotron2 teacher's durations of data/SET for
# every SET, in ALIGNER_DIR/align_SET/{durations,focus_rates}. The sets go through
# inference_nj jobs together, so that each job loads the teacher once, in batches of
# utterances of about the same length; a batch goes to one job whole, so that the
# durations do not depend on the number of jobs.
teacher_align_sets() {
    local out=$1; shift
    local all=${out}/align_all dset f batch=16
    rm -rf "${all}" && mkdir -p "${all}/data"
    for dset in "$@"; do rm -rf "${out}/align_${dset}" "${out}/align_${dset}.tmp"; done
    for dset in "$@"; do cat "data/${dset}/wav.scp"; done > "${all}/data/wav.scp"
    # longest transcripts first
    for dset in "$@"; do cat "data/${dset}/text"; done \
        | awk '{ print length($0) " " $0 }' | LC_ALL=C sort -s -k1,1nr | cut -d' ' -f2- \
        > "${all}/data/text"
    run_jobs align "${all}/data" "${all}/logdir" "${batch}" env OMP_NUM_THREADS=1 \
        python -m espnet_sniper.recipe.alignment.teacher --train_config "$(teacher_file config)" \
        --model_file "$(teacher_file model)" --data_dir "${all}/data" --ngpu "$(_job_ngpu)" \
        --method "${teacher_durations}" --batch_size "${batch}"
    for dset in "$@"; do
        mkdir -p "${out}/align_${dset}.tmp"
        for f in durations focus_rates; do
            LC_ALL=C sort "${all}"/logdir/output.*/"${f}" \
                | awk 'NR == FNR { keep[$1]; next } $1 in keep' "data/${dset}/text" - \
                > "${out}/align_${dset}.tmp/${f}"
        done
        mv "${out}/align_${dset}.tmp" "${out}/align_${dset}"
    done
}

# decode_sets DATA_DIR OUT_DIR ARGS...: espnet2.bin.tts_inference over inference_nj jobs, the
# waveforms merged into OUT_DIR/wav.
decode_sets() {
    local data=$1 out=$2; shift 2
    local logdir=${out}/logdir
    rm -rf "${out}"
    run_jobs decode "${data}" "${logdir}" 1 python -m espnet2.bin.tts_inference \
        --ngpu "$(_job_ngpu)" --data_path_and_name_and_type "${data}/text,text,text" "$@"
    mkdir -p "${out}/wav"
    mv "${logdir}"/output.*/wav/*.wav "${out}/wav/"
    # a text-to-waveform model (JETS) has no features to write
    if compgen -G "${logdir}/output.*/denorm/feats.scp" > /dev/null; then
        cat "${logdir}"/output.*/denorm/feats.scp > "${out}/denorm_feats.scp"
    fi
}

# teacher_file model|config: the teacher's model file or training config.
teacher_file() {
    if [ -f "${teacher_dir}/pretrained.env" ]; then
        # written by espnet_sniper.recipe.alignment.fetch_teacher
        local pretrained_model_file pretrained_train_config
        . "${teacher_dir}/pretrained.env"
        if [ "$1" = model ]; then echo "${pretrained_model_file}"; else echo "${pretrained_train_config}"; fi
    elif [ "$1" = model ]; then
        echo "${teacher_dir}/teacher.pth"
    else
        echo "${teacher_dir}/config.yaml"
    fi
}
