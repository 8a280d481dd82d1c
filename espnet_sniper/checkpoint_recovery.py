"""Resuming after a kill while ESPnet was saving: a spare checkpoint and its use.

ESPnet writes ``checkpoint.pth`` and ``<N>epoch.pth`` in place with ``torch.save``: a job
killed during those writes leaves a truncated file, and ``--resume true`` would then fail
on it (the checkpoint) or at the final model averaging (the epoch file). So at the start of
every epoch after the first, the complete checkpoint of the previous epoch is copied to
``checkpoint.prev.pth``; a resume that finds ``checkpoint.pth`` unreadable takes that copy
instead, or starts from the beginning if the kill came while saving epoch 1, and an
unreadable epoch file of the resumed epoch is written again from the resumed model. Every
path gives the weights of an uninterrupted run, because ESPnet reseeds every epoch.
"""

import logging
import shutil
from pathlib import Path
from typing import Dict, Optional

import torch

from espnet_sniper.fileio import atomic_torch_save

CHECKPOINT = "checkpoint.pth"
SPARE = "checkpoint.prev.pth"


def readable(path: Path) -> bool:
    """Whether torch can open ``path`` (a file cut short by a kill cannot be)."""
    try:
        # mmap: the archive's index and pickle are checked without reading every tensor
        torch.load(path, map_location="cpu", mmap=True, weights_only=False)
        return True
    except Exception:  # truncated zip, missing file, bad pickle: all mean "cannot resume"
        return False


def keep_spare(output_dir: Path) -> None:
    """Copy the checkpoint of the last completed epoch aside; call between epochs."""
    checkpoint = Path(output_dir) / CHECKPOINT
    if checkpoint.exists():
        tmp = checkpoint.with_name(f".{SPARE}.tmp")
        shutil.copyfile(checkpoint, tmp)
        tmp.replace(checkpoint.with_name(SPARE))


def resume_source(checkpoint: Path, is_writer: bool) -> Optional[Path]:
    """The checkpoint to resume from: ``checkpoint`` if readable, else the spare (which the
    writer also copies back over it), else None (start from the beginning)."""
    checkpoint = Path(checkpoint)
    if readable(checkpoint):
        return checkpoint
    spare = checkpoint.with_name(SPARE)
    if readable(spare):
        logging.warning(f"{checkpoint} cannot be read (the run was killed while saving it?): "
                        f"resuming from {spare}, the epoch before")
        if is_writer:
            tmp = checkpoint.with_name(f".{CHECKPOINT}.tmp")
            shutil.copyfile(spare, tmp)
            tmp.replace(checkpoint)
        return spare
    logging.warning(f"{checkpoint} cannot be read and there is no readable {spare} (the run "
                    f"was killed while saving its first epoch?): starting from epoch 1")
    if is_writer:
        checkpoint.unlink(missing_ok=True)
    return None


def repair_epoch_file(output_dir: Path, epoch: int,
                      model_state: Dict[str, torch.Tensor]) -> None:
    """Write ``<epoch>epoch.pth`` (and ``latest.pth``) again if the kill damaged them."""
    output_dir = Path(output_dir)
    epoch_file = output_dir / f"{epoch}epoch.pth"
    if epoch < 1 or readable(epoch_file):
        return
    logging.warning(f"{epoch_file} cannot be read: writing it again from the checkpoint")
    atomic_torch_save(model_state, epoch_file)
    latest = output_dir / "latest.pth"
    if not latest.exists():
        latest.unlink(missing_ok=True)  # a dangling link
        latest.symlink_to(epoch_file.name)
