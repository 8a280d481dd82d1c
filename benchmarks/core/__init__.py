"""What every benchmark shares: running the recipe (``recipe``), the paired grids' driver
(``grid``), an ESPnet training epoch (``training``), results with their provenance
(``results``), what a result measured and whether it is still current (``staleness``,
``reproductions``), and the cells of the results tables (``cells``)."""
