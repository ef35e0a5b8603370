"""Optional dependencies and the extra that installs each (``pip install 'vidbench[metrics]'``).

``pip install .`` gives the core: the CLI, the embedded data, the methods and every metric that needs
no third-party network code (including the shipped moving-shapes evaluator). The heavier parts are
extras, declared in ``pyproject.toml`` (``make setup`` installs all of them from the lock):

* ``metrics``: lpips, pytorch-fid (LPIPS; the FID Inception network);
* ``tf``: tensorflow, tensorflow-hub, setuptools<81, tensorboard (the TF reference FVD backend;
  TensorBoard event files of training curves);
* ``dvc``: the DVC pipeline (``make repro``);
* ``test``: pytest, playwright (the test suite; the browser tests);
* ``cluster``: submitit (``benchmark run --launcher slurm|local``, ``benchmark jobs``).

:func:`require` imports an optional module or says which extra to install.

>>> require("json", "metrics").__name__
'json'
>>> try:
...     require("no_such_module_xyz", "metrics", "the lpips metric")
... except MissingExtraError as e:
...     print(e)
the lpips metric needs the Python package 'no_such_module_xyz': pip install 'vidbench[metrics]' (or `make setup`, which installs every extra from requirements.lock)
"""

from __future__ import annotations

import importlib
from types import ModuleType

from benchmark.utils import UserError

#: extra -> the import names it provides (pyproject.toml [project.optional-dependencies] installs them)
EXTRAS: dict[str, tuple[str, ...]] = {
    "metrics": ("lpips", "pytorch_fid"),
    "tf": ("tensorflow", "tensorflow_hub", "tensorboard"),
    "dvc": ("dvc",),
    "test": ("pytest", "playwright"),
    "cluster": ("submitit",),
}


class MissingExtraError(UserError, ImportError):
    """An optional package is not installed; the message names the extra that installs it. A
    UserError (the CLI prints it and exits 2) and an ImportError (code that tolerates a missing
    optional package keeps doing so)."""


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """``import module``, or raise :class:`MissingExtraError` naming ``vidbench[extra]``."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; extras: {', '.join(EXTRAS)}")
    try:
        return importlib.import_module(module)
    except ImportError as e:
        what = purpose or f"this feature ({module})"
        raise MissingExtraError(f"{what} needs the Python package {module.split('.')[0]!r}: "
                                f"pip install 'vidbench[{extra}]' (or `make setup`, which installs every "
                                f"extra from requirements.lock)") from e
