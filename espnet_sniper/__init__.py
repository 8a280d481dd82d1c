"""SNIPER training (SNIP-initialised, evolving-rate pruning) for ESPnet TTS models."""

__version__ = "0.1.0"
