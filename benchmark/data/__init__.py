"""Datasets: one module per dataset, declared here by name and imported on first use.

:func:`load_dataset` is how every part of vidbench (the stages, the crowd and data CLIs, recipes)
opens a registered dataset. A new dataset module registers its class with
``@DATASETS.register("<name>")`` and gets one ``DATASETS.declare("<name>", "<module>")`` line below
(``benchmark list`` lists the declared names without importing every module).
"""

from benchmark.data.base import Protocol, SplitData, TaskProtocols, VideoDataset  # noqa: F401
from benchmark.registry import DATASETS

for _name, _module in (("moving-shapes", "moving_shapes"), ("kth", "kth"), ("bair", "bair"), ("mmnist", "mmnist"),
                       ("weizmann", "weizmann"), ("chairs", "chairs"), ("vgan-golf", "vgan_scenes"),
                       ("vgan-beach", "vgan_scenes"), ("ucf101", "ucf101"), ("kinetics600", "kinetics"),
                       ("bouncing-balls", "bouncing_balls")):
    DATASETS.declare(_name, f"benchmark.data.{_module}")
del _name, _module


def load_dataset(name: str, data_root=None, **options) -> VideoDataset:
    """The registered dataset ``name`` with its prepared data under ``data_root`` (default: the
    dataset's own default, ``$VIDBENCH_DATA`` or ``./data``) and constructor ``options`` (e.g.
    smaller splits in tests)."""
    kwargs = {"root": data_root} if data_root is not None else {}
    return DATASETS.build(name, **kwargs, **options)
