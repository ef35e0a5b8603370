"""Parity of the torch and TF reference FVD backends without the real module: a TF1 SavedModel
replica of the tfhub I3D graph (same variable names, random weights) is loaded through
tensorflow-hub, converted with the converter, and both backends embed the same videos."""

from __future__ import annotations

import pytest
import torch
import torchvision  # noqa: F401  (before tensorflow: see benchmark.metrics.extractors.tf_i3d._tf)

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_hub")

from benchmark.metrics.extractors import convert_i3d  # noqa: E402
from benchmark.metrics.extractors.i3d import I3DFeatures  # noqa: E402
from benchmark.metrics.extractors.tf_i3d import TFHubI3DFeatures, build_replica  # noqa: E402
from benchmark.metrics.fvd import FrechetVideoDistance  # noqa: E402


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    d = tmp_path_factory.mktemp("i3d")
    module = build_replica(d / "module", seed=1)
    weights = d / "i3d.safetensors"
    digest = convert_i3d.save(convert_i3d.convert(module), weights)
    assert digest == convert_i3d.save(convert_i3d.convert(module), d / "again.safetensors")  # deterministic bytes
    return TFHubI3DFeatures(module=module), I3DFeatures(weights_path=str(weights), batch_size=8)


def _fvd(real_feats, fake_feats, net):
    m = FrechetVideoDistance(extractor=net)
    m.update_features(real_feats, real=True)
    m.update_features(fake_feats, real=False)
    return m.compute()["fvd"].value


def test_embeddings_and_fvd_agree_fast(backends):
    """One module call (8 videos padded to 16): non-square colour frames, 4 real vs 4 fake."""
    tf_net, torch_net = backends
    g = torch.Generator().manual_seed(2)
    x = torch.rand(8, 9, 3, 36, 52, generator=g)
    x[4:] = x[4:] * 0.5
    a, b = tf_net(x), torch_net(x)
    assert a.shape == (8, 400) and (a - b).abs().max() <= 1e-4 and a.abs().max() > 0.1
    fa, fb = _fvd(a[:4], a[4:], tf_net), _fvd(b[:4], b[4:], torch_net)
    assert fa > 0 and abs(fa - fb) <= 1e-3 * fa


@pytest.mark.slow
def test_embeddings_and_fvd_agree_on_non_square_frames(backends):
    tf_net, torch_net = backends
    g = torch.Generator().manual_seed(0)
    real = torch.rand(16, 9, 3, 40, 56, generator=g)
    fake = (real * 0.6 + 0.4 * torch.rand(16, 9, 3, 40, 56, generator=g)).roll(1, dims=-1)
    a_real, b_real = tf_net(real), torch_net(real)
    assert (a_real - b_real).abs().max() <= 1e-4
    assert a_real.abs().max() > 0.1  # a live network, not all zeros
    fvds = []
    for net in (tf_net, torch_net):
        m = FrechetVideoDistance(extractor=net)
        m.update_features(a_real if net is tf_net else b_real, real=True)
        m.update(fake, real=False)
        fvds.append(m.compute()["fvd"].value)
    assert fvds[0] > 0 and abs(fvds[0] - fvds[1]) <= 1e-3 * fvds[0]


@pytest.mark.slow
def test_tf_backend_pads_to_module_batch_and_handles_gray(backends):
    tf_net, torch_net = backends
    x = torch.rand(3, 10, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    a, b = tf_net(x), torch_net(x)
    assert a.shape == (3, 400) and (a - b).abs().max() <= 1e-4
    assert tf_net.weights.comparable is False  # a replica is not the pinned module
