"""Intelligibility: what an ASR system hears in a waveform, and its error rates against the text.

Reference and hypothesis are normalized the same way (``normalize_text``): Unicode NFKD with
accents dropped, lower case, every character that is not a letter, a digit or an apostrophe
made a space, runs of spaces collapsed. Numbers are not spelled out on either side: the
judges transcribe what they hear, and the mini corpus writes its numbers as words.

CER is the character edit distance (spaces count, as in ESPnet's character scoring) over the
reference's length; WER the word edit distance over the reference's word count; both per
utterance, averaged over utterances by the scorer like its other metrics.

Transcribers (``transcriber``), all (waveform, rate) -> text:

* ``judge:DIR``: the recipe's own ASR judge (``asr_judge.py``), greedy CTC decoding;
* ``espnet:TRAIN_CONFIG,MODEL_FILE``: a local ESPnet ASR, through ESPnet's ``Speech2Text``;
* ``zoo:TAG``: an ESPnet ASR of the model zoo (downloaded: needs the network);
* ``whisper:TAG``: OpenAI's Whisper (the ``openai-whisper`` package; weights downloaded).
"""

import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Callable, Dict, Sequence

import numpy as np
import yaml

Transcriber = Callable[[np.ndarray, int], str]


def normalize_text(text: str) -> str:
    """The form in which reference and hypothesis are compared (see the module's doc)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    kept = "".join(c if c.isalnum() or c == "'" else " " for c in plain)
    return " ".join(kept.split())


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def error_rates(reference: str, hypothesis: str) -> Dict[str, float]:
    """CER and WER of one utterance, both texts normalized first."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        raise ValueError(f"reference {reference!r} is empty once normalized")
    return {"cer": edit_distance(ref, hyp) / len(ref),
            "wer": edit_distance(ref.split(), hyp.split()) / len(ref.split())}


def _resample(wav: np.ndarray, fs: int, target: int) -> np.ndarray:
    if fs == target:
        return wav
    import librosa

    return librosa.resample(wav.astype(np.float32), orig_sr=fs, target_sr=target)


def judge_transcriber(judge_dir: Path) -> Transcriber:
    """The recipe's own CTC judge: greedy decoding (best path, repeats and blanks removed)."""
    import torch
    from espnet2.tasks.asr import ASRTask

    config, model_file = judge_dir / "config.yaml", judge_dir / "judge.pth"
    for path in (config, model_file):
        if not path.is_file():
            sys.exit(f"error: the ASR judge {judge_dir} has no {path.name}: train it with "
                     "espnet_sniper.recipe.evaluation.asr_judge (stage 8 does)")
    # ESPnet's config names the normalization statistics relative to the recipe folder it
    # was trained from; the judge's own copy of them is found from anywhere
    conf = yaml.safe_load(config.read_text())
    conf["normalize_conf"]["stats_file"] = str(judge_dir / "stats" / "train" / "feats_stats.npz")
    with tempfile.TemporaryDirectory() as tmp:
        located = Path(tmp) / "config.yaml"
        located.write_text(yaml.safe_dump(conf))
        model, train_args = ASRTask.build_model_from_file(located, model_file, "cpu")
    model.eval()
    fs = int(train_args.frontend_conf["fs"])
    blank = model.blank_id

    def transcribe(wav: np.ndarray, rate: int) -> str:
        speech = torch.from_numpy(_resample(wav, rate, fs).astype(np.float32))[None]
        with torch.no_grad():
            enc, enc_lens = model.encode(speech, torch.tensor([speech.shape[1]]))
            best = model.ctc.argmax(enc)[0, : int(enc_lens[0])].tolist()
        ids = [t for k, t in enumerate(best) if t != blank and (k == 0 or t != best[k - 1])]
        return "".join(" " if model.token_list[t] == "<space>" else model.token_list[t]
                       for t in ids if model.token_list[t] not in ("<unk>", "<sos/eos>"))

    return transcribe


def _speech2text(make: Callable, what: str) -> Transcriber:
    try:
        speech2text = make()
    except (OSError, ConnectionError, RuntimeError, ValueError) as e:
        sys.exit(f"error: could not load {what}: {e}. Without network, use the recipe's own "
                 "ASR judge (the default) or a local ESPnet ASR (--asr_model_file and "
                 "--asr_train_config).")
    fs = int(getattr(speech2text.asr_train_args, "frontend_conf", {}).get("fs", 16000))

    def transcribe(wav: np.ndarray, rate: int) -> str:
        return speech2text(_resample(wav, rate, fs).astype(np.float32))[0][0]

    return transcribe


def transcriber(spec: str) -> Transcriber:
    """The transcriber named by ``spec`` (see the module's doc); fails before any work."""
    kind, _, arg = spec.partition(":")
    if not arg:
        sys.exit(f"error: ASR {spec!r}: expected judge:DIR, espnet:CONFIG,MODEL, zoo:TAG "
                 "or whisper:TAG")
    if kind == "judge":
        return judge_transcriber(Path(arg))
    if kind == "espnet":
        config, _, model_file = arg.partition(",")
        for path in (config, model_file):
            if not path or not Path(path).is_file():
                sys.exit(f"error: ASR {spec!r}: {path or 'the model file'} does not exist "
                         "(--asr_train_config and --asr_model_file)")
        from espnet2.bin.asr_inference import Speech2Text

        return _speech2text(lambda: Speech2Text(asr_train_config=config, asr_model_file=model_file,
                                                device="cpu"), f"the ESPnet ASR {model_file}")
    if kind == "zoo":
        from espnet2.bin.asr_inference import Speech2Text

        return _speech2text(lambda: Speech2Text.from_pretrained(arg, device="cpu"),
                            f"the model-zoo ASR {arg} (downloading needs the network)")
    if kind == "whisper":
        try:
            import whisper
        except ImportError:
            sys.exit("error: --whisper_tag needs OpenAI's Whisper: pip install openai-whisper "
                     "(its weights are downloaded on first use: needs the network)")
        try:
            model = whisper.load_model(arg, device="cpu")
        except Exception as e:  # whisper raises whatever its download meets
            sys.exit(f"error: could not load Whisper {arg!r} ({e}); without network, use the "
                     "recipe's own ASR judge (the default)")

        def transcribe(wav: np.ndarray, rate: int) -> str:
            return model.transcribe(_resample(wav, rate, 16000).astype(np.float32),
                                    language="en", fp16=False)["text"]

        return transcribe
    sys.exit(f"error: ASR {spec!r}: unknown kind {kind!r} (judge, espnet, zoo, whisper)")
