"""Training curves as TensorBoard event files, beside ``train_log.jsonl``.

The JSON-lines log stays the record the report reads; this mirrors each of its records as scalars
(``loss/<phase>``, ``lr/<phase>``) into ``<run_dir>/tensorboard/`` so ``tensorboard --logdir runs``
shows every run while it trains. It needs the ``tensorboard`` package (it comes with TensorFlow:
``pip install 'vidbench[tf]'``); without it training goes on and logs one line saying so.

>>> writer = open_writer(Path("/tmp/nowhere"), start_step=0, enabled=False)
>>> writer.log({"step": 1, "losses": {"g": 0.5}}); writer.close()
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: sub-folder of a run's training folder holding the event files
TENSORBOARD_DIR = "tensorboard"


class NullWriter:
    """Stands in when TensorBoard is not installed (or not wanted): logs nothing."""

    def log(self, record: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class EventWriter:
    """Writes ``train_log.jsonl`` records as TensorBoard scalars."""

    def __init__(self, folder: Path, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: a resumed run drops the events a killed run wrote after its last checkpoint,
        # as train_log.jsonl is trimmed to it
        self.folder = folder
        self._writer = SummaryWriter(log_dir=str(folder), purge_step=start_step or None)

    def log(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for name, value in (record.get("losses") or {}).items():
            self._writer.add_scalar(f"loss/{name}", float(value), step)
        for name, value in (record.get("lr") or {}).items():
            self._writer.add_scalar(f"lr/{name}", float(value), step)
        self._writer.flush()  # visible to a running `tensorboard --logdir` at once

    def close(self) -> None:
        self._writer.close()


def tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


_said_missing = False


def open_writer(run_dir: Path, start_step: int, enabled: bool = True) -> EventWriter | NullWriter:
    """An :class:`EventWriter` into ``run_dir/tensorboard``, or a :class:`NullWriter` (with one log
    line per process) when the ``tensorboard`` package is missing."""
    global _said_missing
    if not enabled:
        return NullWriter()
    if not tensorboard_available():
        if not _said_missing:
            log.info("tensorboard is not installed: training curves go to train_log.jsonl only "
                     "(pip install 'vidbench[tf]' for TensorBoard event files)")
            _said_missing = True
        return NullWriter()
    return EventWriter(Path(run_dir) / TENSORBOARD_DIR, start_step)
