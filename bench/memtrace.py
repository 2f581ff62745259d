"""Run a server module under tracemalloc, dumping a snapshot whenever asked (memory attribution).

``python -m bench.memtrace DIR MODULE [ARGS...]`` runs ``MODULE`` as ``__main__``; a daemon thread
takes a tracemalloc snapshot each time a file ``DIR/take-NAME`` appears and writes it to
``DIR/NAME.snap`` (then removes the request). Tracing (12 frames) starts at the first request, so
the server starts at full speed and a later snapshot holds what was allocated since, still alive.
``bench/idle_memory.py --trace`` uses it to attribute the bytes of an idle socket. Tracing slows
the server several times: figures taken with it are attributions, never RSS figures.
"""

from __future__ import annotations

import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path


def _watch(directory: Path) -> None:
    while True:
        for request in sorted(directory.glob("take-*")):
            name = request.name.removeprefix("take-")
            if not tracemalloc.is_tracing():
                tracemalloc.start(12)
            tracemalloc.take_snapshot().dump(str(directory / f"{name}.tmp"))
            (directory / f"{name}.tmp").rename(directory / f"{name}.snap")
            request.unlink()
        time.sleep(0.1)


def main() -> None:
    directory, module, *rest = sys.argv[1:]
    Path(directory).mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_watch, args=(Path(directory),), daemon=True).start()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
