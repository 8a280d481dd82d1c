"""espnet-sniper: SNIPER training (SNIP-initialised, evolving-sparsity) for ESPnet TTS."""

from setuptools import find_packages, setup

setup(
    name="espnet_sniper",
    version="0.1.0",
    description=(
        "Train ESPnet TTS models sparse at first and dense at the end (SNIPER), "
        "through stock ESPnet's own extension points."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["espnet_sniper", "espnet_sniper.*"]),
    # The exact set that installs without backtracking on Python 3.11 (see
    # tools/requirements.lock for every transitive pin): espnet 202511 needs
    # setuptools<74, torch>=2.13 needs setuptools>=77, so torch is pinned.
    install_requires=[
        "espnet==202511",
        "torch==2.9.1",
        "torchaudio==2.9.1",
        "espnet_model_zoo==0.1.7",
        "phonemizer==3.4.0",
        "tensorboard==2.21.0",
        "matplotlib==3.11.2",
    ],
    extras_require={"test": ["pytest==9.2.0", "hypothesis==6.170.15"]},
)
