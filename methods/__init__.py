"""Reproduced methods: one package per paper, declared here by name and imported on first use.

Methods never import each other; shared building blocks live in ``methods.common``. Each method
class registers itself with ``@METHODS.register("<name>")``; the table below names the module that
does so, so ``benchmark list`` and ``--help`` list every method without importing them all, and a
run imports only the methods it runs. A new method adds its names here (the registry checks, on
import, that the module really registers them).
"""

from benchmark.registry import METHODS

#: module -> the method names it registers, in the order ``benchmark list`` shows them
_DECLARED = {
    "methods.baselines.simple": ("copy_last", "mean_context", "background_fill", "static_frame", "uniform_grey"),
    "methods.baselines.ae_gmm": ("vgan_ae_gmm",),
    "methods.baselines.conv_lstm": ("conv_lstm",),
    "methods.vgan.method": ("vgan", "vgan_one_stream", "vgan_future"),
    "methods.mocogan.method": ("mocogan",),
    "methods.tgan.method": ("tgan",),
    "methods.navslp.method": ("navslp",),
    "methods.vrnn_hier.method": ("vrnn_hier",),
    "methods.ddpae.method": ("ddpae",),
    "methods.encodedec.method": ("encodedec",),
    "methods.svg.method": ("svg_lp", "svg_fp"),
    "methods.drnet.method": ("drnet",),
    "methods.p2p.method": ("p2p",),
    "methods.video_vqvae.method": ("video_vqvae",),
    "methods.videoflow.method": ("videoflow",),
    "methods.savp.method": ("savp", "savp_vae", "savp_gan", "savp_det"),
    "methods.sv2p.method": ("sv2p",),
}
for _module, _names in _DECLARED.items():
    for _name in _names:
        METHODS.declare(_name, _module)
del _module, _names, _name
