"""The recipe's Python (egs2/ljspeech/sniper_tts1), installed so that run.sh, the tests and
the benchmarks import one copy of it. Each module with a command line runs as
``python -m espnet_sniper.recipe.<module>``, as run.sh calls it; the stage that calls it is
named in brackets.

    kaldi_dir          Kaldi-style data directories: read and write tables, subsets
    archive_members    which members of a zip or tar would escape the folder they unpack to
    validate_data      every wav and transcript checked, bad utterances listed (stage 2)
    dump_feats         features as one Kaldi archive per set, --feats_type fbank (stage 5)
    griffin_lim        seeded Griffin-Lim vocoding (stage 7; the scorer's vocoder)
    corpus/            the generated mini corpus: espeak-ng synthesis with word events
    alignment/         durations: the forward-sum aligner, the Tacotron2 teacher and its
                       fetching, monotonic alignment search, their checks against word
                       onsets (stages 3 and 4)
    evaluation/        scoring, intelligibility and its ASR judge, mel pictures, the
                       samples page, the listening-test kit and its report (stage 8)
    publish/           the model card, the package check, the Hugging Face hub folder and
                       its upload (stages 9 and 10)

What only one corpus needs (LJSpeech's download and data preparation) stays in the
recipe's local/.
"""
