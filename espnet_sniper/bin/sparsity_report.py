#!/usr/bin/env python3
"""Per-tensor and total sparsity (share of exact zeros) of a saved ESPnet model.

    python -m espnet_sniper.bin.sparsity_report exp/tts_sniper/3epoch.pth
    python -m espnet_sniper.bin.sparsity_report exp/tts_sniper/checkpoint.pth --json out.json

Reads ``{epoch}epoch.pth`` (a state dict) or ``checkpoint.pth`` (its ``model``), with
``weights_only=True``. The "prunable" total covers the tensors SNIPER masked, as listed in
the run's ``sniper/state.pth`` beside the model file; a state dict alone cannot tell
parameters from buffers, so without that file the tensors whose names contain none of
``--exclude_params`` count, buffers included.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch

from espnet_sniper.fileio import atomic_write_text
from espnet_sniper.masks import is_prunable
from espnet_sniper.state import STATE_FILE, SniperState


def load_state_dict(path: Path) -> Dict[str, torch.Tensor]:
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist or is not a file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise SystemExit(f"error: {path} is not a readable PyTorch file ({e})") from None
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]  # ESPnet's checkpoint.pth
    if not isinstance(data, dict) or not all(torch.is_tensor(v) for v in data.values()):
        raise SystemExit(f"error: {path} holds no model state dict")
    return data


def sparsity_report(
    state: Dict[str, torch.Tensor],
    exclude_params: List[str],
    prunable_names: Optional[List[str]] = None,
) -> Dict:
    tensors = []
    totals = {"all": [0, 0], "prunable": [0, 0]}
    for name, t in state.items():
        if not t.is_floating_point():
            continue  # counters such as num_batches_tracked
        zeros, numel = int((t == 0).sum()), t.numel()
        prunable = (
            name in prunable_names
            if prunable_names is not None
            else is_prunable(name, exclude_params)
        )
        tensors.append({"name": name, "numel": numel, "zeros": zeros,
                        "sparsity": 100.0 * zeros / numel if numel else 0.0,
                        "prunable": prunable})
        for key in ("all", "prunable") if prunable else ("all",):
            totals[key][0] += zeros
            totals[key][1] += numel
    return {
        "tensors": tensors,
        "total": {
            key: {"zeros": z, "numel": n, "sparsity": 100.0 * z / n if n else 0.0}
            for key, (z, n) in totals.items()
        },
        "prunable_from": "sniper state" if prunable_names is not None else "exclude_params",
        "exclude_params": exclude_params,
    }


def format_report(report: Dict) -> str:
    width = max([len(t["name"]) for t in report["tensors"]] + [10])
    lines = [f"{'tensor':<{width}}  {'entries':>10}  {'zeros':>10}  {'sparsity %':>10}"]
    for t in report["tensors"]:
        mark = "" if t["prunable"] else "  (excluded)"
        lines.append(f"{t['name']:<{width}}  {t['numel']:>10}  {t['zeros']:>10}  "
                     f"{t['sparsity']:>10.2f}{mark}")
    for key, tot in report["total"].items():
        lines.append(f"{'total ' + key:<{width}}  {tot['numel']:>10}  {tot['zeros']:>10}  "
                     f"{tot['sparsity']:>10.2f}")
    return "\n".join(lines)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_file", type=Path, help="{epoch}epoch.pth or checkpoint.pth")
    parser.add_argument("--exclude_params", nargs="*", default=["norm", "embed"])
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    return parser


def main(cmd: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    state_path = args.model_file.parent / "sniper" / STATE_FILE
    prunable_names = (
        list(SniperState.load(state_path).meta["params"]) if state_path.is_file() else None
    )
    report = sparsity_report(
        load_state_dict(args.model_file), args.exclude_params, prunable_names
    )
    print(format_report(report))
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
