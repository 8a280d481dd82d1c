"""The two other layouts of the authors' configs, read as this project's ``sniper_conf``.

The reference repository's configs give ``sniper_conf`` alone, beside two trainer keys of
its patched ESPnet: ``val_teacher_forcing`` (true is what stock ESPnet does; false,
validation by free-running inference, cannot be done without replacing ESPnet's
validation and is refused) and ``save_epochs`` (see saved_epochs.py). The authors' ESPnet
fork puts ``use_sniper`` (and ``sniper_dir``) at the top level beside ``sniper_conf``:
``use_sniper: false`` trains dense whatever ``sniper_conf`` says, ``true`` needs a
``sniper_conf``. All of these are accepted so that those configs train as they are.
"""

import argparse
import logging
from typing import Optional

from espnet2.utils.types import str2bool
from espnet_sniper.config import SniperConfig, SniperConfigError, parse_sniper_conf


class ReferenceTrainerKeyError(ValueError):
    """A trainer key of the reference's patched ESPnet with a value we cannot honour."""


def add_layout_arguments(group: argparse._ArgumentGroup) -> None:
    """The top-level keys of the reference's and the fork's configs."""
    group.add_argument(
        "--use_sniper",
        type=str2bool,
        default=None,
        help="The authors' ESPnet fork's switch: false trains dense whatever sniper_conf "
        "says; true needs sniper_conf. Unset: SNIPER exactly when sniper_conf is given.",
    )
    group.add_argument(
        "--sniper_dir",
        type=str,
        default=None,
        help="Accepted for the authors' fork configs and ignored with a warning: the "
        "SNIPER state lives in <output_dir>/sniper.",
    )
    group.add_argument(
        "--val_teacher_forcing",
        type=str2bool,
        default=True,
        help="Accepted for the reference implementation's configs: true is stock "
        "ESPnet's validation; false is refused.",
    )
    group.add_argument(
        "--save_epochs",
        type=int,
        nargs="*",
        default=[],
        help="Epochs whose models are kept (as <output_dir>/saved_epochs/<N>epoch.pth) "
        "whatever keep_nbest_models removes.",
    )


def check_reference_trainer_keys(args: argparse.Namespace) -> None:
    """Refuse, by name, what the reference's trainer keys ask and stock ESPnet cannot do."""
    if getattr(args, "val_teacher_forcing", True) is not True:
        raise ReferenceTrainerKeyError(
            "val_teacher_forcing: false (validation by free-running inference) is a key of "
            "the reference's patched ESPnet; stock ESPnet's validation always uses teacher "
            "forcing. Set it to true or remove it."
        )
    bad = [e for e in getattr(args, "save_epochs", None) or [] if e < 1]
    if bad:
        raise ReferenceTrainerKeyError(
            f"save_epochs: {bad} are not epochs (ESPnet counts epochs from 1)"
        )


def requested_sniper_conf(args: argparse.Namespace) -> Optional[SniperConfig]:
    """The SNIPER config a run asks for, in any of the layouts (None: dense training)."""
    use_sniper = getattr(args, "use_sniper", None)
    conf = getattr(args, "sniper_conf", None)
    if use_sniper is False:
        return None
    if use_sniper is True and not conf:
        raise SniperConfigError(
            "use_sniper: true, but the config has no sniper_conf: add a sniper_conf with a "
            "schedule (e.g. {0: 40, 5: 20, 10: 10, 20: 0}), or set use_sniper: false")
    return parse_sniper_conf(conf)


def announce_sniper_layout(args: argparse.Namespace) -> None:
    """Log what the fork's top-level keys did, once, where the run starts."""
    if getattr(args, "sniper_dir", None) is not None:
        logging.warning(f"sniper_dir ({args.sniper_dir}) is ignored: the SNIPER state lives in "
                        f"<output_dir>/sniper")
    if getattr(args, "use_sniper", None) is False:
        logging.info("use_sniper: false: dense training" +
                     (", sniper_conf ignored" if getattr(args, "sniper_conf", None) else ""))
