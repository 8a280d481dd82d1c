#!/usr/bin/env python3
"""Drop-in for ``espnet2.bin.gan_tts_train`` with SNIPER training (``--sniper_conf``)."""

from espnet_sniper.tasks.gan_tts import SniperGANTTSTask


def get_parser():
    return SniperGANTTSTask.get_parser()


def main(cmd=None):
    """SNIPER GAN TTS training (JETS, VITS).

    Example:

        % python -m espnet_sniper.bin.gan_tts_train --config conf/train_sniper_jets.yaml ...
        % python -m espnet_sniper.bin.gan_tts_train --print_config
    """
    SniperGANTTSTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
