"""SniperGANTTSTask: ESPnet's GAN TTS task (JETS, VITS) trained by SniperGANTrainer."""

from espnet2.tasks.gan_tts import GANTTSTask
from espnet_sniper.gan_trainer import SniperGANTrainer
from espnet_sniper.tasks.task_mixin import SniperTaskMixin


class SniperGANTTSTask(SniperTaskMixin, GANTTSTask):
    trainer = SniperGANTrainer
