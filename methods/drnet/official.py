"""Map upstream DRNet checkpoints (``edenton/drnet-py``) onto :class:`DRNet`.

``train_drnet.py`` saves ``{'netD': <module>, 'netEP': <module>, 'netEC': <module>, 'opt': <Namespace>}``
(the scene discriminator is not saved: it is only needed for training); ``train_lstm.py`` saves
``{'lstm': <module>, 'opt': <Namespace>}``. Either or both may be given (merged into one
``networks`` mapping of ``name -> (class_path, state_dict)``); the checkpoint arrives unpickled
safely by ``benchmark.legacy_checkpoint``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from torch import Tensor

from methods.common.state_mapping import map_state_by_order
from methods.drnet.config import DRNetConfig

Networks = Mapping[str, tuple[str, Mapping[str, Tensor]]]
CONTENT_RE = re.compile(r"models\.(dcgan_unet|vgg_unet|dcgan)_(64|128)\.content_encoder$")
POSE_RE = re.compile(r"models\.(dcgan|resnet)_(64|128)\.pose_encoder$")
#: train_drnet.py's --content_model / --pose_model choices (all at --image_width 64 and 128).
CONTENT_MODELS, POSE_MODELS = ("dcgan_unet", "vgg_unet", "dcgan"), ("dcgan", "resnet")


class OfficialCheckpointError(ValueError):
    """The checkpoint is not an upstream DRNet model (message says why)."""


def config_from_official(networks: Networks, options: Mapping[str, Any], base: DRNetConfig) -> DRNetConfig:
    """The :class:`DRNetConfig` of an upstream checkpoint; ``base`` supplies the data's channels and
    resolution and what the file cannot (training settings)."""
    missing = [n for n in ("netEC", "netEP", "netD") if n not in networks]
    if missing:
        raise OfficialCheckpointError(f"drnet: the checkpoint has no {', '.join(missing)} (entries: "
                                      f"{', '.join(sorted(networks)) or 'none'}); expected train_drnet.py's model.pth")
    classes = {n: networks[n][0] for n in ("netEC", "netEP", "netD")}
    unsupported = sorted({c for c in classes.values() if c.startswith("models.unet_64.")})
    if unsupported:
        raise OfficialCheckpointError(f"drnet: {', '.join(unsupported)} is upstream's models/unet_64.py (the "
                                      f"multi-pose 'unet' variant, which train_drnet.py does not build); only "
                                      f"train_drnet.py's --content_model {{{', '.join(CONTENT_MODELS)}}} and "
                                      f"--pose_model {{{', '.join(POSE_MODELS)}}} at 64 or 128 can be imported")
    mc, mp = CONTENT_RE.match(classes["netEC"]), POSE_RE.match(classes["netEP"])
    if not mc or not mp:
        raise OfficialCheckpointError(f"drnet: unexpected classes {classes['netEC']!r} / {classes['netEP']!r}"
                                      f" (upstream's models.{{{'|'.join(CONTENT_MODELS)}}}_{{64,128}}.content_encoder"
                                      f" / models.{{{'|'.join(POSE_MODELS)}}}_{{64,128}}.pose_encoder)")
    width = int(mc.group(2))
    if int(mp.group(2)) != width:
        raise OfficialCheckpointError(f"drnet: content encoder is {width}x{width}, pose encoder {mp.group(2)}")
    decoder = f"models.{mc.group(1)}_{width}.decoder"
    if classes["netD"] != decoder:
        raise OfficialCheckpointError(f"drnet: the decoder is {classes['netD']!r}; content model {mc.group(1)} at "
                                      f"{width}x{width} has {decoder!r}")
    said = {"content_model": mc.group(1), "pose_model": mp.group(1), "image_width": width}
    for key, value in said.items():
        if key in options and options[key] != value:
            raise OfficialCheckpointError(f"drnet: opt says {key}={options[key]!r}, the saved networks' classes "
                                          f"({classes['netEC']}, {classes['netEP']}) say {value!r}")
    ec = networks["netEC"][1]
    first = next(t for k, t in ec.items() if k.endswith("weight") and t.ndim == 4)
    head = [t for k, t in ec.items() if k.endswith("weight") and t.ndim == 4][-1]
    content_dim = int(head.shape[0])
    ep = networks["netEP"][1]
    ep_first = next(t for k, t in ep.items() if k.endswith("weight") and t.ndim == 4)
    if ep_first.shape[0] != first.shape[0]:
        raise OfficialCheckpointError(f"drnet: the content encoder starts with {first.shape[0]} channels, the pose "
                                      f"encoder with {ep_first.shape[0]} (ours share one width)")
    pose_dim = int([t for k, t in ep.items() if k.endswith("weight") and t.ndim == 4][-1].shape[0])
    changes: dict[str, Any] = dict(
        model_channels=int(first.shape[1]), resolution=(width, width), width=int(first.shape[0]),
        content_model=mc.group(1),
        pose_model=mp.group(1), content_dim=content_dim, pose_dim=pose_dim,
        normalize=bool(options.get("normalize", False)),
        sd_width=int(options.get("sd_nf", base.sd_width)), sd_weight=float(options.get("sd_weight", base.sd_weight)),
        max_step=int(options.get("max_step", base.max_step)))
    if "lstm" in networks:
        st = networks["lstm"][1]
        changes.update(rnn_size=int(st["embed.weight"].shape[0]),
                       rnn_layers=len({k.split(".")[1] for k in st if k.startswith("lstm.")}))
        if int(st["embed.weight"].shape[1]) != content_dim + pose_dim:
            raise OfficialCheckpointError(f"drnet: the LSTM takes {st['embed.weight'].shape[1]} inputs, the encoders "
                                          f"give {content_dim} + {pose_dim}")
    if changes["model_channels"] not in (base.channels, 3):
        raise OfficialCheckpointError(f"drnet: the networks take {changes['model_channels']} channels, the data has "
                                      f"{base.channels}")
    if (width, width) != tuple(base.resolution):
        raise OfficialCheckpointError(f"drnet: the checkpoint is for {width}x{width} frames, the data is "
                                      f"{base.resolution[0]}x{base.resolution[1]}")
    return dataclasses.replace(base, **changes)


def load_official_state(model, networks: Networks) -> list[str]:
    """Copy upstream's weights into ``model``; returns the networks left as initialised (e.g. ``netC``)."""
    left = []
    for name, net in model.networks().items():
        if name in networks:
            net.load_state_dict(map_state_by_order(net, networks[name][1], name))
        else:
            left.append(name)
    return left
