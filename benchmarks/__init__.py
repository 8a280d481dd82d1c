"""The project's benchmarks: each module measures one thing, writes its result under
``benchmarks/results/`` and declares what it measures (``INPUTS``) and how its result reads
(``table``). Run them from the repository root: ``python -m benchmarks.<name>``."""
