"""Reproduced methods: one package per paper. Importing this package registers them all.

Methods never import each other; shared building blocks live in ``methods.common``.
"""

from methods import baselines  # noqa: F401
from methods import vgan  # noqa: F401
from methods import mocogan  # noqa: F401
from methods import tgan  # noqa: F401
from methods import navslp  # noqa: F401
from methods import vrnn_hier  # noqa: F401
from methods import ddpae  # noqa: F401
from methods import encodedec  # noqa: F401
from methods import svg  # noqa: F401
from methods import drnet  # noqa: F401
from methods import p2p  # noqa: F401
from methods import video_vqvae  # noqa: F401
from methods import videoflow  # noqa: F401
from methods import savp  # noqa: F401
from methods import sv2p  # noqa: F401
