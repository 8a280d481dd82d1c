"""The SNIPER state of one run: what is computed once at the start and kept with the run.

``<output_dir>/sniper/state.pth`` holds the SNIP scores and the initial values of the
prunable tensors, with what they were made from (parameter names and shapes, the scoring
settings, the schedule). It never changes after it is written, so it cannot disagree with
ESPnet's ``checkpoint.pth``; the position in the schedule follows from the checkpoint's
epoch. It is written to a temporary name and renamed, loaded with ``weights_only=True``,
and carries a digest of its tensors so that damage is detected, not trained on.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import torch

from espnet_sniper.fileio import atomic_torch_save
from espnet_sniper.tensor_digest import tensor_digest

FORMAT_VERSION = 1
STATE_FILE = "state.pth"
# sniper_conf keys added after format 1: a state written before them was made with these
KEYS_ADDED_LATER = {"allocation": "global", "shuffle_within_tensor": False,
                    "kept_variance": None}


class SniperStateError(RuntimeError):
    """A SNIPER state that cannot be used; the message says what to do."""


def _digest(tensors: Dict[str, Dict[str, torch.Tensor]]) -> str:
    return tensor_digest({f"{group}/{name}": t for group, named in tensors.items()
                          for name, t in named.items()})


@dataclass
class SniperState:
    scores: Dict[str, torch.Tensor]
    init_values: Dict[str, torch.Tensor]
    meta: Dict[str, Any]

    def save(self, path: Path) -> None:
        tensors = {"scores": self.scores, "init_values": self.init_values}
        atomic_torch_save(
            {
                "format_version": FORMAT_VERSION,
                "meta": self.meta,
                "scores": self.scores,
                "init_values": self.init_values,
                "digest": _digest(tensors),
            },
            path,
        )

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> "SniperState":
        try:
            data = torch.load(path, map_location=device, weights_only=True)
        except Exception as e:  # a truncated zip, random bytes, a pickle with code...
            raise SniperStateError(
                f"{path} cannot be read ({type(e).__name__}: {e}). It is truncated or "
                f"corrupted. Restore it from a backup, or delete {path.parent} together with "
                f"checkpoint.pth to start this run again from scratch."
            ) from None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise SniperStateError(
                f"{path} is not a SNIPER state of format {FORMAT_VERSION}: it was written by "
                f"another program or version. Use a new output directory."
            )
        missing = [group for group in ("meta", "scores", "init_values") if group not in data]
        if missing:
            raise SniperStateError(
                f"{path} has no {', '.join(missing)}: it is incomplete. Restore it from a "
                f"backup, or delete {path.parent} together with checkpoint.pth to start again."
            )
        tensors = {"scores": data["scores"], "init_values": data["init_values"]}
        if _digest(tensors) != data.get("digest"):
            raise SniperStateError(
                f"{path} is damaged: its tensors do not match their digest. Restore it from a "
                f"backup, or delete {path.parent} together with checkpoint.pth to start again."
            )
        return cls(scores=data["scores"], init_values=data["init_values"], meta=data["meta"])

    def check_matches(self, path: Path, meta: Dict[str, Any]) -> None:
        """Refuse a state made for another model or another SNIPER config."""
        for key, made_with, now in _differences(_with_later_keys(self.meta),
                                                _with_later_keys(meta)):
            raise SniperStateError(
                f"{path} was made with {key} = {made_with!r}, but this run has {key} = "
                f"{now!r}. Training on would use masks from another model or config. Use a "
                f"new output directory, or restore the config the run was started with."
            )


def _with_later_keys(meta: Dict[str, Any]) -> Dict[str, Any]:
    if not isinstance(meta.get("sniper_config"), dict):
        return meta
    return {**meta, "sniper_config": {**KEYS_ADDED_LATER, **meta["sniper_config"]}}


def _differences(made_with: Any, now: Any, key: str = ""):
    """(dotted key, old, new) for every leaf where two nested dicts differ, sorted."""
    if isinstance(made_with, dict) and isinstance(now, dict):
        for k in sorted(set(made_with) | set(now), key=str):
            yield from _differences(made_with.get(k), now.get(k), f"{key}.{k}" if key else str(k))
    elif made_with != now:
        yield key, made_with, now
