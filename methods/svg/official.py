"""Map upstream SVG checkpoints (``edenton/svg``: ``torch.save({'encoder': <module>, 'decoder': ...,
'frame_predictor': ..., 'posterior': ..., ['prior': ...,] 'opt': <Namespace>})``) onto :class:`SVGModel`.

The checkpoint arrives already unpickled safely (``benchmark.legacy_checkpoint``) as plain data:
``networks`` maps each entry to ``(class_path, state_dict)`` and ``options`` holds the saved
``opt``'s fields. The architecture is read from the class paths (``models.vgg_64.encoder`` ->
VGG, 64x64) and the weight shapes, cross-checked against ``opt``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from torch import Tensor

from methods.common.state_mapping import map_state_by_order
from methods.svg.config import SVGConfig

Networks = Mapping[str, tuple[str, Mapping[str, Tensor]]]
CODEC_RE = re.compile(r"models\.(dcgan|vgg)_(64|128)\.(encoder|decoder)$")


class OfficialCheckpointError(ValueError):
    """The checkpoint is not an upstream SVG model of the requested kind (message says why)."""


def _need(networks: Networks, names: tuple[str, ...], what: str) -> None:
    missing = [n for n in names if n not in networks]
    if missing:
        raise OfficialCheckpointError(f"{what}: the checkpoint has no {', '.join(missing)} "
                                      f"(entries: {', '.join(sorted(networks)) or 'none'})")


def config_from_official(networks: Networks, options: Mapping[str, Any], prior: str, base: SVGConfig) -> SVGConfig:
    """The :class:`SVGConfig` of an upstream checkpoint; ``base`` supplies what the file cannot (training)."""
    what = f"svg_{'lp' if prior == 'learned' else 'fp'}"
    _need(networks, ("encoder", "decoder", "frame_predictor", "posterior"), what)
    has_prior = "prior" in networks
    if has_prior != (prior == "learned"):
        other = "svg_lp" if has_prior else "svg_fp"
        raise OfficialCheckpointError(f"{what}: this checkpoint {'has' if has_prior else 'has no'} a learned prior "
                                      f"network: it is an {other.upper().replace('_', '-')} model, import it as {other}")
    m = CODEC_RE.match(networks["encoder"][0])
    if not m:
        raise OfficialCheckpointError(f"{what}: encoder class {networks['encoder'][0]!r} is not one of upstream's "
                                      f"models.{{dcgan,vgg}}_{{64,128}}.encoder")
    backbone, width = m.group(1), int(m.group(2))
    if options.get("model") not in (None, backbone) or int(options.get("image_width", width)) != width:
        raise OfficialCheckpointError(f"{what}: opt says model={options.get('model')!r} image_width="
                                      f"{options.get('image_width')}, the encoder class is {networks['encoder'][0]}")
    enc = networks["encoder"][1]
    first = next(t for k, t in enc.items() if k.endswith("weight") and t.ndim == 4)
    post, pred = networks["posterior"][1], networks["frame_predictor"][1]
    g_dim = int(post["embed.weight"].shape[1])
    z_dim = int(post["mu_net.weight"].shape[0])
    rnn = int(post["embed.weight"].shape[0])
    layers = lambda state: len({k.split(".")[1] for k in state if k.startswith("lstm.")})  # noqa: E731
    cfg = SVGConfig(
        prior=prior, backbone=backbone, channels=int(first.shape[1]), resolution=(width, width),
        width=int(first.shape[0]), g_dim=g_dim, z_dim=z_dim, rnn_size=rnn, predictor_layers=layers(pred), posterior_layers=layers(post),
        prior_layers=layers(networks["prior"][1]) if has_prior else base.prior_layers,
        context_frames=int(options.get("n_past", base.context_frames)),
        future_frames=int(options.get("n_future", base.future_frames)),
        last_frame_skip=bool(options.get("last_frame_skip", False)),
        beta=float(options.get("beta", base.beta)), lr=float(options.get("lr", base.lr)),
        beta1=float(options.get("beta1", base.beta1)), train=base.train)
    if int(options.get("g_dim", g_dim)) != g_dim or int(options.get("z_dim", z_dim)) != z_dim:
        raise OfficialCheckpointError(f"{what}: opt says g_dim={options.get('g_dim')} z_dim={options.get('z_dim')}, "
                                      f"the weights have {g_dim} and {z_dim}")
    return cfg


def load_official_state(model, networks: Networks) -> None:
    """Copy upstream's weights into ``model`` (an :class:`SVGModel` built from :func:`config_from_official`)."""
    for name, net in model.networks().items():
        net.load_state_dict(map_state_by_order(net, networks[name][1], name))
