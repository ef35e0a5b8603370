"""Datasets: one module per dataset; importing this package registers them.

:func:`load_dataset` is how every part of vidbench (the stages, the crowd and data CLIs, recipes)
opens a registered dataset.
"""

from benchmark.data.base import Protocol, SplitData, TaskProtocols, VideoDataset  # noqa: F401
from benchmark.data import moving_shapes  # noqa: F401
from benchmark.data import kth  # noqa: F401
from benchmark.data import bair  # noqa: F401
from benchmark.data import mmnist  # noqa: F401
from benchmark.data import weizmann  # noqa: F401
from benchmark.data import chairs  # noqa: F401
from benchmark.data import vgan_scenes  # noqa: F401
from benchmark.data import ucf101  # noqa: F401
from benchmark.data import kinetics  # noqa: F401


def load_dataset(name: str, data_root=None, **options) -> VideoDataset:
    """The registered dataset ``name`` with its prepared data under ``data_root`` (default: the
    dataset's own default, ``$VIDBENCH_DATA`` or ``./data``) and constructor ``options`` (e.g.
    smaller splits in tests)."""
    from benchmark.registry import DATASETS

    kwargs = {"root": data_root} if data_root is not None else {}
    return DATASETS.build(name, **kwargs, **options)
