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

from benchmark.paths import TENSORBOARD as TENSORBOARD_DIR  # the run-folder layout's one home

log = logging.getLogger(__name__)


class NullWriter:
    """Stands in when TensorBoard is not installed (or not wanted): logs nothing."""

    def log(self, record: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class EventWriter:
    """Writes ``train_log.jsonl`` records as TensorBoard scalars."""

    def __init__(self, folder: Path, start_step: int) -> None:
        SummaryWriter = summary_writer_class()

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
    """Whether the ``tensorboard`` package is installed (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def summary_writer_class() -> type:
    """``torch.utils.tensorboard.SummaryWriter``, imported without TensorFlow.

    TensorBoard's ``compat.tf`` imports TensorFlow when it is installed (our ``[tf]`` extra): ~9 s
    and noisy logs in every training process, and triton, imported later by torch, can crash after
    it. Writing scalars needs only TensorBoard's own stub, which it uses when the module
    ``tensorboard.compat.notf`` exists (its documented ``no_tensorflow`` switch); unless TensorFlow is
    already loaded, we register that marker before the import.
    """
    import sys
    import types

    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter


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
