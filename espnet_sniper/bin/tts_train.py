#!/usr/bin/env python3
"""Drop-in for ``espnet2.bin.tts_train`` with SNIPER training (``--sniper_conf``)."""

from espnet_sniper.tasks.tts import SniperTTSTask


def get_parser():
    return SniperTTSTask.get_parser()


def main(cmd=None):
    """SNIPER TTS training.

    Example:

        % python -m espnet_sniper.bin.tts_train --config conf/train_sniper.yaml ...
        % python -m espnet_sniper.bin.tts_train --print_config
    """
    SniperTTSTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
