"""Datasets: one module per dataset; importing this package registers them."""

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
