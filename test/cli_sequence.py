"""Runs several training command lines one after another in this one Python process.

    python test/cli_sequence.py runs.json

``runs.json``: a list of {"module": ..., "argv": [...], "log": ...}. Each run goes through
its module's ``main(argv)``, exactly what ``python -m module argv`` calls, with the root
logger writing to the run's own log, and its exit status (0, a SystemExit's, or 1 for an
exception, whose traceback goes to the log) is written to ``<log>.rc``. ESPnet seeds every
random stream at the start of each training, so a run here trains to the same bits as in
a process of its own; what is saved is the import of ESPnet and numba's compilation, paid
once for all the runs instead of once each (seconds of CPU per run).
"""

import importlib
import json
import logging
import sys
import traceback
from pathlib import Path

FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"


def run_one(module: str, argv: list, log: Path) -> int:
    handler = logging.FileHandler(log, mode="w")
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        importlib.import_module(module).main(argv)
        return 0
    except SystemExit as stop:
        if isinstance(stop.code, str):  # sys.exit("error: ...") prints it to stderr
            handler.stream.write(stop.code + "\n")
            return 1
        return stop.code or 0
    except Exception:
        handler.stream.write(traceback.format_exc())
        return 1
    finally:
        root.removeHandler(handler)
        handler.close()


def main() -> None:
    for spec in json.loads(Path(sys.argv[1]).read_text()):
        log = Path(spec["log"])
        rc = run_one(spec["module"], spec["argv"], log)
        Path(f"{log}.rc").write_text(str(rc))


if __name__ == "__main__":
    main()
