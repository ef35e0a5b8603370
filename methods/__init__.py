"""Reproduced methods: one package per paper. Importing this package registers them all.

Methods never import each other; shared building blocks live in ``methods.common``.
"""

from methods import baselines  # noqa: F401
from methods import vgan  # noqa: F401
from methods import mocogan  # noqa: F401
from methods import tgan  # noqa: F401
from methods import navslp  # noqa: F401
from methods import savp  # noqa: F401
from methods import sv2p  # noqa: F401
