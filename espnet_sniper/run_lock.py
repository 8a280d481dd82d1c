"""One training per output directory: a second one started there is refused.

The lock is an ``flock`` on ``<output_dir>/.train.lock``, held for the life of the
training process: the kernel releases it when that process ends in any way, SIGKILL
included, so a pre-empted job never leaves a stale lock behind. The file records who
holds it, for the refusal message. Whoever takes the lock also removes the temporary files
a killed predecessor left mid-write: nobody else can be writing them.
"""

import fcntl
import logging
import os
import socket
import time
from pathlib import Path
from typing import IO

LOCK_FILE = ".train.lock"


class OutputDirInUse(RuntimeError):
    """Another process trains in this output directory."""


def lock_output_dir(output_dir: Path) -> IO:
    """Take the directory's lock, or raise OutputDirInUse naming its holder.

    Keep the returned file open for as long as the training runs.
    """
    path = Path(output_dir) / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise OutputDirInUse(
            f"{output_dir} is in use by another training ({holder}; lock {path}). Wait for "
            f"it to finish, stop it, or train in another output directory."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    handle.flush()
    return handle


def remove_stale_temporaries(output_dir: Path) -> None:
    """Delete the ``.*.tmp`` files of interrupted atomic writes; call holding the lock."""
    output_dir = Path(output_dir)
    for tmp in [*output_dir.glob(".*.tmp"), *output_dir.glob("sniper/.*.tmp")]:
        # a module logger: ESPnet configures the root logger later, in main_worker
        logging.getLogger(__name__).warning(f"removing {tmp}, left by a run that was killed while writing it")
        tmp.unlink()
