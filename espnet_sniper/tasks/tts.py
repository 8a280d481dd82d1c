"""SniperTTSTask: ESPnet's TTS task (FastSpeech2, Tacotron2, ...) trained by SniperTrainer."""

from espnet2.tasks.tts import TTSTask
from espnet_sniper.tasks.task_mixin import SniperTaskMixin
from espnet_sniper.trainer import SniperTrainer


class SniperTTSTask(SniperTaskMixin, TTSTask):
    trainer = SniperTrainer
