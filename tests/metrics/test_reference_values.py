"""Reference values that need the real pretrained weights: the check a user runs once the pinned files
are installed (`benchmark weights status` says how to get each one):

    .venv/bin/python -m pytest -rs tests/metrics/test_reference_values.py -m ""

Every test here skips, saying which file or input is missing, while it is absent; none downloads.
The numbers and their sources:

* FVD of 16 black vs 16 white videos (15 frames, 64x64): "around 131" — the example of the reference
  FVD code (google-research/frechet_video_distance, ``example.py``). Another value sometimes quoted
  (zeros vs ones, 8 x 30 frames, 151.3) comes from StyleGAN-V's TorchScript I3D, a different port with
  other preprocessing; it is not a check of ours and is not asserted.
* TF backend (the tfhub module itself) vs our torch port of it: logits within 1e-4, FVD within 1e-3.
* Frame IS of the CIFAR-10 training images: 11.24 (torch-fidelity's and pytorch-fid's Inception,
  10 splits); needs the CIFAR-10 python batches at ``$VIDBENCH_CIFAR10``.
* LPIPS (AlexNet, v0.1) on the lpips repository's example images (``imgs/ex_ref.png``, ``ex_p0.png``,
  ``ex_p1.png`` at ``$VIDBENCH_LPIPS_IMAGES``) equals the lpips package on the same weights.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import weights as W


def pinned(name: str) -> W.ResolvedWeights:
    """The installed weights ``name`` (a hash mismatch with the pin fails), or skip saying how to get them.
    A file without a pin yet (the converted I3D) is checked too: these values are what verifies it."""
    try:
        return W.resolve(name)
    except W.WeightsError as e:
        if "not found" not in str(e):
            raise
        pytest.skip(f"pinned weights {name!r} are not installed ({e})")


def _fvd(metric, real: torch.Tensor, fake: torch.Tensor) -> float:
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return metric.compute()["fvd"].value


def test_fvd_of_black_vs_white_videos_is_the_reference_codes_131():
    pinned("i3d_kinetics400")
    from benchmark.metrics.fvd import FrechetVideoDistance

    black = torch.zeros(16, 15, 3, 64, 64)
    white = torch.ones(16, 15, 3, 64, 64)
    value = _fvd(FrechetVideoDistance(weights="pinned"), black, white)
    assert value == pytest.approx(131.0, abs=3.0), f"FVD black vs white = {value:.2f}, reference ~131"


def test_tf_backend_and_torch_port_agree_on_the_real_hub_module():
    pinned("i3d_kinetics400")
    pinned("i3d_kinetics400_tfhub")
    import torchvision  # noqa: F401  (before TensorFlow: importing torchvision after it crashes the process)

    pytest.importorskip("tensorflow", reason="the TF backend runs the tfhub module (pip install '.[tf]')")
    pytest.importorskip("tensorflow_hub", reason="the TF backend loads the module with tensorflow-hub")
    from benchmark.metrics.fvd import FrechetVideoDistance

    g = torch.Generator().manual_seed(0)
    real = torch.rand(16, 16, 3, 64, 64, generator=g)
    fake = (real + 0.2 * torch.randn(real.shape, generator=g)).clamp(0, 1)
    ours, tf = FrechetVideoDistance(backend="torch"), FrechetVideoDistance(backend="tf")
    logits_ours, logits_tf = ours.features(real), tf.features(real)
    assert (logits_ours - logits_tf).abs().max().item() <= 1e-4
    assert _fvd(ours, real, fake) == pytest.approx(_fvd(tf, real, fake), abs=1e-3)


def _cifar10_train(root: Path) -> np.ndarray:
    """uint8 ``(50000, 32, 32, 3)`` from the CIFAR-10 python batches (``data_batch_1..5``)."""
    images = []
    for i in range(1, 6):
        with open(root / f"data_batch_{i}", "rb") as f:
            batch = pickle.load(f, encoding="bytes")  # the dataset's own format: plain dicts of arrays
        images.append(batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return np.concatenate(images)


@pytest.mark.slow
def test_frame_is_of_cifar10_train_is_11_24():
    root = os.environ.get("VIDBENCH_CIFAR10")
    if not root or not (Path(root) / "data_batch_1").exists():
        pytest.skip("set VIDBENCH_CIFAR10 to the cifar-10-batches-py folder (data_batch_1..5)")
    pinned("inception_fid")
    from benchmark.metrics.inception_score import FrameInceptionScore

    images = torch.from_numpy(_cifar10_train(Path(root))).permute(0, 3, 1, 2).float().div(255)
    metric = FrameInceptionScore(weights="pinned")
    for start in range(0, len(images), 500):  # each image is a one-frame video
        metric.update(images[start:start + 500, None])
    value = metric.compute()["is_frame"].value
    assert value == pytest.approx(11.24, abs=0.15), f"frame IS of CIFAR-10 train = {value:.3f}, reference 11.24"


def test_lpips_on_the_packages_example_images_equals_the_package():
    lpips = pytest.importorskip("lpips", reason="the lpips package is the reference implementation")
    folder = os.environ.get("VIDBENCH_LPIPS_IMAGES")
    if not folder or not (Path(folder) / "ex_ref.png").exists():
        pytest.skip("set VIDBENCH_LPIPS_IMAGES to the lpips repository's imgs/ folder (ex_ref.png, ex_p0.png, "
                    "ex_p1.png)")
    alexnet = pinned("alexnet_imagenet")
    import torchvision
    from PIL import Image

    from benchmark.metrics.lpips import LearnedPerceptualSimilarity

    def image(name: str) -> torch.Tensor:  # (C, H, W) in [0, 1]
        return torch.from_numpy(np.array(Image.open(Path(folder) / name).convert("RGB"))).permute(2, 0, 1) / 255

    ref, p0, p1 = image("ex_ref.png"), image("ex_p0.png"), image("ex_p1.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        package = lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False)
    trunk = torchvision.models.alexnet(weights=None)
    trunk.load_state_dict(torch.load(alexnet.path, map_location="cpu", weights_only=True))
    for _, block in package.net.named_children():
        for idx, layer in block.named_children():
            layer.load_state_dict(trunk.features[int(idx)].state_dict())
    for other in (p0, p1):
        expected = package(ref[None] * 2 - 1, other[None] * 2 - 1).item()  # the package takes [-1, 1]
        ours = LearnedPerceptualSimilarity(weights="pinned")
        ours.update(other[None, None, None], ref[None, None])  # (B, k, T, C, H, W) vs (B, T, C, H, W)
        assert ours.compute()["lpips_best"].value == pytest.approx(expected, abs=1e-5)
