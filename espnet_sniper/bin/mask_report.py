#!/usr/bin/env python3
"""Where a run's masks prune: each tensor's density at each scheduled sparsity, its size,
its share of the summed score, and whether it sits at the per-tensor cap.

    python -m espnet_sniper.bin.mask_report exp/tts_train_sniper/sniper/state.pth
    python -m espnet_sniper.bin.mask_report exp/.../sniper/state.pth --allocations global uniform erk \\
        --json report.json --plot report.png

Reads the scores and the SNIPER config the run saved (``sniper/state.pth``). By default
the masks are those of the run's own ``allocation``; ``--allocations`` lays others beside
it, from the same scores. Tensors are grouped by module (the first name component below
the model, e.g. encoder, duration_predictor, decoder, postnet; attention and feed-forward
apart). Weight-normalized slices that the trainer keeps whole are not added here: for a GAN
the densities can read a few entries low.
"""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet_sniper.allocation import ALLOCATIONS
from espnet_sniper.config import SniperConfigError, parse_sniper_conf
from espnet_sniper.fileio import atomic_write_text
from espnet_sniper.masks import ScoreRanking, real_sparsity
from espnet_sniper.state import SniperState, SniperStateError

# leading name components that only say where a model sits (ESPnet's TTS wrapper, a GAN's
# generator), each dropped once: JETS's HiFi-GAN is tts.generator.generator
WRAPPERS = ("tts", "generator")


def _key(sparsity: float) -> str:
    """A sparsity as a JSON key: 40, 12.5."""
    return f"{sparsity:g}"


def module_group(name: str) -> str:
    """encoder attention, decoder feed-forward, postnet, duration_predictor, ..."""
    parts = name.split(".")
    for wrapper in WRAPPERS:
        if len(parts) > 2 and parts[0] == wrapper:
            parts = parts[1:]
    kind = ("attention" if "attn" in name else "feed-forward" if "feed_forward" in name
            else "")
    return f"{parts[0]} {kind}".strip()


def mask_report(state: SniperState, allocations: Sequence[str]) -> Dict:
    config = parse_sniper_conf(state.meta["sniper_config"])
    sparsities = [s for s in sorted(set(config.schedule.points.values()), reverse=True) if s]
    scores = state.scores
    total_score = sum(float(s.double().sum()) for s in scores.values())
    total_numel = sum(s.numel() for s in scores.values())
    cap = config.max_param_sparsity
    tensors = {name: {"group": module_group(name), "numel": s.numel(),
                      "shape": list(s.shape),
                      "score_share": float(s.double().sum()) / total_score if total_score else None,
                      "density": {}}
               for name, s in scores.items()}
    real = {}
    for allocation in allocations:
        ranking = ScoreRanking(scores, config.tie_break_seed, allocation=allocation,
                               shuffle_within_tensor=config.shuffle_within_tensor)
        real[allocation] = {}
        for p in sparsities:
            masks = ranking.masks(p, cap)
            real[allocation][_key(p)] = real_sparsity(masks)
            for name, m in masks.items():
                tensors[name]["density"].setdefault(allocation, {})[_key(p)] = float(
                    m.sum()) / m.numel()
    groups: Dict[str, Dict] = defaultdict(lambda: {"numel": 0, "score": 0.0, "kept": {}})
    for name, t in tensors.items():
        g = groups[t["group"]]
        g["numel"] += t["numel"]
        g["score"] += (t["score_share"] or 0.0)
        for allocation, by_p in t["density"].items():
            for p, d in by_p.items():
                key = f"{allocation}@{p}"
                g["kept"][key] = g["kept"].get(key, 0) + d * t["numel"]
    group_rows = {
        name: {"numel_share": g["numel"] / total_numel,
               "score_share": g["score"] if total_score else None,
               "pruned_percent": {k: 100 * (1 - kept / g["numel"])
                                  for k, kept in g["kept"].items()}}
        for name, g in groups.items()}
    top = _key(sparsities[0]) if sparsities else None
    at_cap = {a: sorted(n for n, t in tensors.items()
                        if top and t["density"][a][top] <= 1 - cap / 100 + 0.5 / t["numel"])
              for a in allocations} if cap < 100 else {a: [] for a in allocations}
    return {"scoring": config.scoring, "allocation_of_run": config.allocation,
            "scores_meaningful": config.scoring == "snip" and total_score > 0,
            "max_param_sparsity": cap, "sparsities": sparsities,
            "prunable_entries": total_numel, "real_sparsity": real,
            "tensors_at_cap": at_cap, "groups": group_rows, "tensors": tensors}


def format_report(report: Dict) -> str:
    allocations = list(report["real_sparsity"])
    top = report["sparsities"][0] if report["sparsities"] else None
    lines = [f"scores: {report['scoring']}; cap {report['max_param_sparsity']:g} %; "
             f"{report['prunable_entries']} prunable entries"]
    for a in allocations:
        reals = ", ".join(f"{p:g} % -> {report['real_sparsity'][a][_key(p)]:.2f} %"
                          for p in report["sparsities"])
        lines.append(f"{a}: real sparsity {reals}; {len(report['tensors_at_cap'][a])} "
                     f"of {len(report['tensors'])} tensors at the cap")
    if top is None:
        return "\n".join(lines + ["(the schedule is dense throughout: nothing is pruned)"])
    width = max(len(g) for g in report["groups"]) + 2
    head = "".join(f"{'pruned ' + a + ' %':>18}" for a in allocations)
    lines.append(f"{'module':<{width}}{'entries %':>10}{'score %':>10}{head}   (at {top:g} %)")
    for name, g in sorted(report["groups"].items(), key=lambda kv: -kv[1]["numel_share"]):
        score = f"{100 * g['score_share']:10.1f}" if g["score_share"] is not None else f"{'-':>10}"
        pruned = "".join(f"{g['pruned_percent'][f'{a}@{_key(top)}']:18.1f}" for a in allocations)
        lines.append(f"{name:<{width}}{100 * g['numel_share']:10.1f}{score}{pruned}")
    return "\n".join(lines)


def plot_report(report: Dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = report["sparsities"][0]
    allocations = list(report["real_sparsity"])
    names = sorted(report["groups"], key=lambda g: -report["groups"][g]["numel_share"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.42 * len(names) + 1.8), sharey=True)
    height = 0.8 / len(allocations)
    for i, a in enumerate(allocations):
        left.barh([y + (i - (len(allocations) - 1) / 2) * height for y in range(len(names))],
                  [report["groups"][g]["pruned_percent"][f"{a}@{_key(top)}"] for g in names],
                  height=height, label=f"{a} (real {report['real_sparsity'][a][_key(top)]:.1f} %)")
    left.axvline(top, color="black", linewidth=0.8, linestyle="--")
    left.axvline(report["max_param_sparsity"], color="red", linewidth=0.8, linestyle=":")
    left.set_xlabel(f"pruned % of the module at a nominal {top:g} % (dashed; red dotted: cap)")
    left.legend(fontsize=8)
    left.set_yticks(range(len(names)), names, fontsize=8)
    left.invert_yaxis()
    shares = [("entries", [100 * report["groups"][g]["numel_share"] for g in names])]
    if report["scores_meaningful"]:
        shares.append(("summed SNIP score",
                       [100 * report["groups"][g]["score_share"] for g in names]))
    for i, (label, values) in enumerate(shares):
        right.barh([y + (i - 0.5) * 0.4 for y in range(len(names))], values, height=0.4,
                   label=label)
    right.set_xlabel("share of the model, %")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    tmp.replace(path)
    plt.close(fig)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("state", type=Path, help="a run's sniper/state.pth")
    parser.add_argument("--allocations", nargs="+", choices=ALLOCATIONS.names(), default=None,
                        help="default: the run's own allocation")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--plot", type=Path, help="also draw the module densities here (PNG)")
    parser.add_argument("--title", default=None, help="the plot's title")
    return parser


def main(cmd: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    if not args.state.is_file():
        raise SystemExit(f"error: {args.state} does not exist; give a run's sniper/state.pth")
    try:
        state = SniperState.load(args.state)
        report = mask_report(state, args.allocations or [
            state.meta["sniper_config"].get("allocation", "global")])
    except (SniperStateError, SniperConfigError, KeyError) as e:
        raise SystemExit(f"error: {args.state}: {e}") from None
    print(format_report(report))
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=1) + "\n")
    if args.plot and report["sparsities"]:
        plot_report(report, args.plot, args.title or str(args.state))


if __name__ == "__main__":
    main(sys.argv[1:])
