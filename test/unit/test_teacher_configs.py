"""The Tacotron2 teacher's configs, which stage 3's other aligner trains with stock ESPnet."""

from pathlib import Path

import pytest
import torch
from espnet2.tasks.tts import TTSTask

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("directory, embed_dim", [("", 512), ("mini", None)])
def test_teacher_configs_build_a_tacotron2_in_stock_espnet(directory, embed_dim):
    """Stage 3's other aligner trains these with stock ESPnet's tts_train: they parse, and
    the model they describe builds (with a token list and without the statistics, which
    stage 3 makes) and teacher-forces a batch, its attention one row per output frame."""
    path = CONF / directory / "train_tacotron2_teacher.yaml"
    args = TTSTask.get_parser().parse_args(["--config", str(path), "--normalize", "none"])
    args.token_list = ["<blank>", "<unk>", "a", "b", "<sos/eos>"]
    torch.manual_seed(0)
    model = TTSTask.build_model(args).eval()
    assert type(model.tts).__name__ == "Tacotron2"
    if embed_dim is not None:  # the paper's teacher, ESPnet's LJSpeech Tacotron2
        assert model.tts.enc.embed.embedding_dim == embed_dim
    text = torch.tensor([[2, 3, 2]])
    speech = torch.randn(1, 2048)
    with torch.no_grad():
        feats = model.feats_extract(speech)[0][0]
        out = model.tts.inference(text[0], feats=feats, use_teacher_forcing=True)
    frames = len(feats) // model.tts.reduction_factor
    assert tuple(out["att_w"].shape) == (frames, 4)  # three tokens and <sos/eos>
