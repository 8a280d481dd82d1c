"""``save_epochs``: models of chosen epochs kept from ESPnet's n-best cleanup.

ESPnet deletes ``<N>epoch.pth`` files outside ``keep_nbest_models`` at the end of each
epoch; a hard link in ``<output_dir>/saved_epochs/`` keeps the chosen ones at no cost in
disk space. The reference's patched ESPnet has the key; stock ESPnet does not.
"""

import logging
import os
from pathlib import Path
from typing import Sequence

SAVED_EPOCHS_DIR = "saved_epochs"


def keep_saved_epochs(output_dir: Path, epochs: Sequence[int], up_to: int) -> None:
    """Hard-link the models of ``epochs`` (those <= ``up_to``) into saved_epochs/."""
    output_dir = Path(output_dir)
    kept = output_dir / SAVED_EPOCHS_DIR
    for epoch in (e for e in epochs if e <= up_to):
        source, target = output_dir / f"{epoch}epoch.pth", kept / f"{epoch}epoch.pth"
        if target.exists() or not source.exists():
            continue
        kept.mkdir(exist_ok=True)
        tmp = kept / f".{epoch}epoch.pth.tmp"
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
        tmp.replace(target)
        logging.info(f"save_epochs: kept {target}")
