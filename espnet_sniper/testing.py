"""A tiny TTS data set for the tests, spoken by espeak-ng, in ESPnet's data layout.

Characters are the tokens and durations are spread evenly over each utterance's frames:
enough for FastSpeech2 to train through the real ESPnet CLI in seconds. (The recipe's
corpus and teacher alignment are tested separately.)

Installed with the package (as ``numpy.testing`` and ``torch.testing`` are) so that the
tests and benchmarks/vits_check.py build the same data and tiny VITS without reaching
into test/.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import soundfile
import yaml

FS = 22050
HOP = 256
N_FFT = 1024

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "a big black bug bit a big black bear",
    "how much wood would a woodchuck chuck",
    "peter piper picked a peck of pickled peppers",
    "red lorry yellow lorry",
    "six sick slick slim sycamore saplings",
    "fuzzy wuzzy was a bear",
    "we surely shall see the sun shine soon",
    "three free throws",
    "unique new york",
    "a proper copper coffee pot",
]

# The tiny FastSpeech2 and Tacotron2 the tests train; every size is as small as ESPnet allows.
FASTSPEECH2 = {
    "adim": 16, "aheads": 2, "elayers": 1, "eunits": 32, "dlayers": 1, "dunits": 32,
    "positionwise_layer_type": "conv1d", "positionwise_conv_kernel_size": 3,
    "duration_predictor_layers": 1, "duration_predictor_chans": 16,
    "pitch_predictor_layers": 1, "pitch_predictor_chans": 16,
    "energy_predictor_layers": 1, "energy_predictor_chans": 16,
    "postnet_layers": 2, "postnet_chans": 16, "use_masking": True,
    "encoder_normalize_before": True, "decoder_normalize_before": True,
    "init_type": "xavier_uniform",
}
TACOTRON2 = {
    "embed_dim": 16, "elayers": 1, "eunits": 16, "econv_layers": 1, "econv_chans": 16,
    "atype": "location", "adim": 16, "aconv_chans": 4, "aconv_filts": 3, "dlayers": 1,
    "dunits": 16, "prenet_layers": 1, "prenet_units": 16, "postnet_layers": 1,
    "postnet_chans": 16, "reduction_factor": 2, "use_guided_attn_loss": False,
}

# A tiny JETS: every part as small as ESPnet allows, a HiFi-GAN generator upsampling by the
# hop (8 * 8 * 2 * 2 = 256) and one scale and one period discriminator.
TINY_CHANNELS = {"channels": 4, "max_downsample_channels": 8, "bias": True,
                 "use_weight_norm": True, "use_spectral_norm": False}
JETS = {
    "generator_type": "jets_generator",
    "generator_params": {
        **{k: v for k, v in FASTSPEECH2.items() if not k.startswith("postnet")},
        "generator_out_channels": 1, "generator_channels": 16,
        "generator_upsample_scales": [8, 8, 2, 2],
        "generator_upsample_kernel_sizes": [16, 16, 4, 4],
        "generator_resblock_kernel_sizes": [3], "generator_resblock_dilations": [[1]],
        "generator_use_additional_convs": False, "generator_use_weight_norm": True,
        "segment_size": 8,
    },
    "discriminator_type": "hifigan_multi_scale_multi_period_discriminator",
    "discriminator_params": {
        "scales": 1,
        "scale_discriminator_params": {
            "in_channels": 1, "out_channels": 1, "kernel_sizes": [15, 41, 5, 3],
            "max_groups": 4, "downsample_scales": [4, 4], **TINY_CHANNELS,
        },
        "periods": [2],
        "period_discriminator_params": {
            "in_channels": 1, "out_channels": 1, "kernel_sizes": [5, 3],
            "downsample_scales": [3, 3], **TINY_CHANNELS,
        },
    },
    "mel_loss_params": {"fs": FS, "n_fft": N_FFT, "hop_length": HOP, "n_mels": 20},
    "sampling_rate": FS,
}

# A tiny VITS: the same discriminators, every generator part at its smallest.
VITS = {
    "generator_type": "vits_generator",
    "generator_params": {
        "hidden_channels": 8, "segment_size": 8, "text_encoder_attention_heads": 2,
        "text_encoder_ffn_expand": 2, "text_encoder_blocks": 1,
        "text_encoder_positionwise_layer_type": "conv1d",
        "text_encoder_positionwise_conv_kernel_size": 3,
        "decoder_channels": 16, "decoder_upsample_scales": [8, 8, 2, 2],
        "decoder_upsample_kernel_sizes": [16, 16, 4, 4], "decoder_resblock_kernel_sizes": [3],
        "decoder_resblock_dilations": [[1]], "posterior_encoder_layers": 2,
        "flow_flows": 1, "flow_layers": 1, "stochastic_duration_predictor_flows": 1,
        "stochastic_duration_predictor_dds_conv_layers": 1,
    },
    "discriminator_type": JETS["discriminator_type"],
    "discriminator_params": JETS["discriminator_params"],
    "mel_loss_params": {"fs": FS, "n_fft": N_FFT, "hop_length": HOP, "n_mels": 20},
    "sampling_rate": FS,
}


def n_frames(n_samples: int) -> int:
    """Frames of ESPnet's STFT (center=True) for ``n_samples`` samples."""
    return n_samples // HOP + 1


def char_tokens(text: str) -> List[str]:
    return ["<space>" if c == " " else c for c in text]


def even_durations(n_tokens: int, frames: int) -> List[int]:
    """``n_tokens`` + 1 durations (the last for <sos/eos>) summing to ``frames``."""
    parts = n_tokens + 1
    base, extra = divmod(frames, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def make_tiny_data(root: Path, n_train: int = 8) -> Dict[str, Path]:
    """Write wavs, ESPnet data files and the token list under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    wav_dir = root / "wav"
    wav_dir.mkdir(exist_ok=True)
    utts = {}
    for i, sentence in enumerate(SENTENCES):
        uid = f"utt{i:02d}"
        wav = wav_dir / f"{uid}.wav"
        if not wav.exists():
            subprocess.run(
                ["espeak-ng", "-v", "en-us", "-s", "220", "-w", str(wav), sentence],
                check=True,
            )
        utts[uid] = (sentence, wav, soundfile.info(str(wav)).frames)
    sets = {"train": list(utts)[:n_train], "valid": list(utts)[n_train:]}
    paths = {}
    for name, ids in sets.items():
        d = root / name
        d.mkdir(exist_ok=True)
        with open(d / "text", "w") as f_text, open(d / "wav.scp", "w") as f_wav, open(
            d / "durations", "w"
        ) as f_dur, open(d / "text_shape", "w") as f_ts, open(d / "speech_shape", "w") as f_ss:
            for uid in ids:
                sentence, wav, samples = utts[uid]
                durs = even_durations(len(char_tokens(sentence)), n_frames(samples))
                f_text.write(f"{uid} {sentence}\n")
                f_wav.write(f"{uid} {wav}\n")
                f_dur.write(f"{uid} {' '.join(map(str, durs))}\n")
                f_ts.write(f"{uid} {len(sentence)}\n")
                f_ss.write(f"{uid} {samples}\n")
        paths[name] = d
    chars = sorted({t for s in SENTENCES for t in char_tokens(s)})
    token_list = root / "tokens.txt"
    token_list.write_text("\n".join(["<blank>", "<unk>", *chars, "<sos/eos>"]) + "\n")
    paths["token_list"] = token_list
    return paths


def write_config(path: Path, model: str = "fastspeech2", **overrides) -> Path:
    """A training config for the tiny model; ``overrides`` replace top-level keys."""
    feats = {"fs": FS, "n_fft": N_FFT, "hop_length": HOP, "n_mels": 20}
    config = {
        "tts": model,
        "tts_conf": dict({"fastspeech2": FASTSPEECH2, "tacotron2": TACOTRON2, "jets": JETS,
                          "vits": VITS}[model]),
        "feats_extract": "fbank",
        "feats_extract_conf": feats,
        "normalize": None,
        "optim": "adam",
        "optim_conf": {"lr": 0.01},
        "scheduler": "warmuplr",
        "scheduler_conf": {"warmup_steps": 10},
        "max_epoch": 3,
        "batch_type": "sorted",
        "batch_size": 4,
        "num_workers": 0,
        "seed": 0,
        "grad_clip": 1.0,
        "num_att_plot": 0,
        "use_matplotlib": False,  # ESPnet's per-epoch plots: seconds a run; one test turns them on
        "keep_nbest_models": 10,
        "best_model_criterion": [["valid", "loss", "min"]],
        "token_type": "char",
        "cleaner": None,
        "g2p": None,
    }
    if model == "vits":  # VITS's posterior encoder reads linear spectrograms
        config.update(feats_extract="linear_spectrogram",
                      feats_extract_conf={"n_fft": N_FFT, "hop_length": HOP})
    if model in ("jets", "vits"):
        # ESPnet's LJSpeech JETS trains both parts with AdamW and decays them per step
        gan = {"optim_conf": {"lr": 0.002, "betas": [0.8, 0.99], "weight_decay": 0.0},
               "scheduler": "exponentiallr", "scheduler_conf": {"gamma": 0.999}}
        config.update(optim="adamw", optim2="adamw", scheduler2="exponentiallr",
                      optim2_conf=gan["optim_conf"], scheduler2_conf=gan["scheduler_conf"],
                      generator_first=True, **gan)
        mel_loss = "generator_g_mel_loss" if model == "jets" else "generator_mel_loss"
        config["best_model_criterion"] = [["valid", mel_loss, "min"]]
    if model in ("fastspeech2", "jets"):
        pitch = {"fs": FS, "n_fft": N_FFT, "hop_length": HOP, "f0max": 400, "f0min": 80,
                 "reduction_factor": 1}
        config.update(
            pitch_extract="dio", pitch_extract_conf=pitch, pitch_normalize=None,
            energy_extract="energy",
            energy_extract_conf={"fs": FS, "n_fft": N_FFT, "hop_length": HOP,
                                 "reduction_factor": 1},
            energy_normalize=None,
        )
    if model == "jets":
        # JETS aligns by itself: frame-level pitch and energy, no durations given
        for key in ("pitch_extract_conf", "energy_extract_conf"):
            config[key]["use_token_averaged_" + ("f0" if "pitch" in key else "energy")] = False
    config.update(overrides)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def train_command(
    module: str, data: Dict[str, Path], config: Path, output_dir: Path, *extra: str,
    durations: bool = True,
) -> List[str]:
    """The tts_train command line of ``module`` (espnet2.bin.tts_train or ours)."""
    cmd = [
        sys.executable, "-m", module,
        "--config", str(config), "--output_dir", str(output_dir),
        "--token_list", str(data["token_list"]), "--ngpu", "0", "--use_tensorboard", "false",
    ]
    for split, prefix in (("train", "train"), ("valid", "valid")):
        d = data[split]
        cmd += [
            f"--{prefix}_data_path_and_name_and_type", f"{d}/text,text,text",
            f"--{prefix}_data_path_and_name_and_type", f"{d}/wav.scp,speech,sound",
            f"--{prefix}_shape_file", f"{d}/text_shape",
            f"--{prefix}_shape_file", f"{d}/speech_shape",
        ]
        if durations:
            cmd += [f"--{prefix}_data_path_and_name_and_type", f"{d}/durations,durations,text_int"]
    return cmd + list(extra)


def quiet_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


# the two-rank runs' schedule: a sparsity change at each epoch boundary, dense at the end
TWO_RANK_SCHEDULE = {0: 50, 1: 25, 2: 0}
DDP_ARGS = ("--ngpu", "0", "--multiprocessing_distributed", "false", "--dist_backend", "gloo",
            "--resume", "true")
# the checkout this module belongs to, first on the training processes' path
CHECKOUT = Path(__file__).resolve().parents[1]


class TwoRanks:
    """A two-rank run of the training CLI under ESPnet's DDP (gloo, CPU): two processes
    started as an external launcher starts them (RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT; ``--multiprocessing_distributed false``), or one torchrun starting both."""

    def __init__(self, data: Dict[str, Path], root: Path, name: str, torchrun: bool = False,
                 model: str = "fastspeech2"):
        # as the recipe's JETS configs: DDP must allow the parameters a GAN turn leaves alone
        gan = {"unused_parameters": True} if model == "jets" else {}
        config = write_config(root / f"{name}.yaml", model=model, **gan,
                              sniper_conf={"schedule": TWO_RANK_SCHEDULE,
                                           "max_param_sparsity": 75})
        self.output_dir = root / name
        module = "espnet_sniper.bin.gan_tts_train" if model == "jets" else \
            "espnet_sniper.bin.tts_train"
        # JETS aligns itself: no durations
        self.cmd = train_command(module, data, config, self.output_dir, *DDP_ARGS,
                                 durations=model != "jets")[1:]  # without the python
        self.torchrun, self.procs, self.logs = torchrun, [], []

    def start(self) -> "TwoRanks":
        from espnet2.train.distributed_utils import free_port

        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(CHECKOUT))
        port = free_port()
        self.logs = [self.output_dir.with_name(f"{self.output_dir.name}.{len(self.procs)}.{r}.log")
                     for r in range(2)]
        if self.torchrun:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                   "--master_addr", "127.0.0.1", "--master_port", str(port), *self.cmd]
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=open(self.logs[0], "w"),
                                               stderr=subprocess.STDOUT))
            self.logs = self.logs[:1]
            return self
        for rank in range(2):
            rank_env = dict(env, RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                            MASTER_PORT=str(port))
            self.procs.append(subprocess.Popen([sys.executable, *self.cmd], env=rank_env,
                                               stdout=open(self.logs[rank], "w"),
                                               stderr=subprocess.STDOUT))
        return self

    def running(self) -> List[subprocess.Popen]:
        return self.procs[-1:] if self.torchrun else self.procs[-2:]

    def wait(self, timeout: float = 600) -> List[int]:
        return [p.wait(timeout) for p in self.running()]

    def text(self) -> str:
        return "\n".join(log.read_text() for log in self.logs)
