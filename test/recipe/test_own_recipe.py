"""The README's change to an ESPnet recipe of one's own, tried on a copy of the call it changes.

ESPnet's ``egs2/TEMPLATE/tts1/tts.sh`` trains in stage 6 with the command that
``espnet2.bin.launch`` runs: ``${python} -m "espnet2.bin.${tts_task}_train" \\`` and its
options, ``${_opts} ${train_args}`` last. The README says which line to replace and by what
(a ``diff`` block); this test reads that block from README.md, applies it to a copy of the
call written below in tts.sh's shape, and runs both versions with ``--help`` as the
train_args: the changed call must reach SNIPER's trainer (its help lists ``--sniper_conf``),
the unchanged one must not. A README whose lines do not match tts.sh's wording, or that
names a module that does not exist, fails here.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]

# Stage 6's training call of ESPnet's tts.sh (after "--multiprocessing_distributed true --"),
# with its indentation; a few of its options are left out, none that --help would read.
TRAINING_CALL = r"""
        ${python} -m "espnet2.bin.${tts_task}_train" \
            --use_preprocessor true \
            --token_type "${token_type}" \
            --cleaner "${cleaner}" \
            --g2p "${g2p}" \
            --resume true \
            --output_dir "${tts_exp}" \
            ${_opts} ${train_args}
"""


def readme_change() -> Tuple[str, str]:
    """The one removed and the one added line of the README's ``diff`` block."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```diff\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) == 1, f"README.md should hold one ```diff block, found {len(blocks)}"
    lines = blocks[0].splitlines()
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    assert len(removed) == 1 and len(added) == 1, (removed, added)
    return removed[0].strip(), added[0].strip()


def apply_change(call: str, removed: str, added: str) -> str:
    """Replace the line whose text is ``removed`` (indentation aside) by ``added``."""
    out, replaced = [], 0
    for line in call.splitlines():
        if line.strip() == removed:
            out.append(line[: len(line) - len(line.lstrip())] + added)
            replaced += 1
        else:
            out.append(line)
    assert replaced == 1, f"the README's line {removed!r} is not in tts.sh's training call"
    return "\n".join(out) + "\n"


def run_call(call: str, tts_task: str, tmp_path: Path) -> subprocess.CompletedProcess:
    settings = {
        "python": sys.executable, "tts_task": tts_task, "token_type": "phn",
        "cleaner": "tacotron", "g2p": "g2p_en_no_space", "tts_exp": str(tmp_path / "exp"),
        "_opts": "", "train_args": "--help",
    }
    script = "set -euo pipefail\n" + "".join(
        f"{name}={shlex.quote(value)}\n" for name, value in settings.items()
    ) + call
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)


def test_readme_change_matches_tts_sh_wording():
    removed, added = readme_change()
    assert removed == '${python} -m "espnet2.bin.${tts_task}_train" \\'
    assert "espnet_sniper.bin.${tts_task}_train" in added


@pytest.mark.parametrize("tts_task", ["tts", "gan_tts"])
def test_changed_call_reaches_sniper_trainer(tts_task, tmp_path):
    removed, added = readme_change()
    changed = run_call(apply_change(TRAINING_CALL, removed, added), tts_task, tmp_path)
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "--sniper_conf" in changed.stdout, changed.stdout[-3000:]
    assert "--use_preprocessor" in changed.stdout  # still every option of ESPnet's trainer



def test_unchanged_call_reaches_stock_espnet(tmp_path):
    """What the test above tells apart: tts.sh's own call never reaches SNIPER's trainer
    (one task: ESPnet's GAN task is the same case, at another ESPnet import's cost)."""
    stock = run_call(TRAINING_CALL, "tts", tmp_path)
    assert stock.returncode == 0, stock.stderr[-3000:]
    assert "--use_preprocessor" in stock.stdout
    assert "--sniper_conf" not in stock.stdout
