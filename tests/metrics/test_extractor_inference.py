"""The feature networks' inference path (BatchNorm folded, conv+ReLU kernels, channels-last) equals
the reference networks within 1e-4 (max abs, float32), each loaded from a file in the real format
with random-but-deterministic values (real weights cannot be downloaded here); precision and the
feature cache key; batch sizes for the device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from benchmark import weights as W
from benchmark.metrics.extractors import inference
from benchmark.metrics.extractors.cache import FeatureCache
from benchmark.utils import sha256_file

TOL = 1e-4


@pytest.fixture()
def both_cpu_kernels():
    """Run the body with oneDNN's fused conv+ReLU kernel and with the plain F.conv path."""
    yield
    inference.set_fused_cpu_kernel(None)


def pin(monkeypatch, tmp_path, name: str, path) -> None:
    """A weights manifest that pins ``path``'s sha256 for ``name`` (as for a verified real file)."""
    spec = yaml.safe_load(open(W.manifest_path()))
    spec["weights"][name]["sha256"] = sha256_file(path)
    spec["weights"][name].pop("sha256_prefix", None)
    man = tmp_path / f"weights-{name}.yaml"
    man.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("VIDBENCH_WEIGHTS_MANIFEST", str(man))


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


# -- I3D ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def i3d_file(tmp_path_factory):
    """The tfhub-layout safetensors (as convert_i3d writes it), random weights and BN statistics."""
    from safetensors.torch import save_file

    from benchmark.metrics.extractors.i3d import InceptionI3d, init_random_

    state = init_random_(InceptionI3d(), seed=3).state_dict()
    path = tmp_path_factory.mktemp("i3d") / "i3d_kinetics400_tfhub.safetensors"
    save_file({k: v.contiguous() for k, v in sorted(state.items())}, str(path))
    return path


@pytest.fixture(scope="module")
def i3d_reference(i3d_file):
    """Reference features of clips whose SAME paddings take every path of the fused network:
    T=9 (symmetric stem padding in time, a pool with mixed symmetric/asymmetric padding) and T=10
    (asymmetric stem padding), non-square frames."""
    from benchmark.metrics.extractors.i3d import I3DFeatures

    g = torch.Generator().manual_seed(0)
    clips = [torch.rand(1, 9, 3, 40, 56, generator=g), torch.rand(1, 10, 1, 48, 48, generator=g)]
    ref = I3DFeatures(weights_path=str(i3d_file), fused=False)
    return clips, [ref(c) for c in clips]


@pytest.mark.parametrize("fused_kernel", [True, pytest.param(False, marks=pytest.mark.slow)],
                         ids=["onednn_conv_relu", "conv_then_relu"])
def test_i3d_fused_equals_reference(i3d_file, i3d_reference, fused_kernel, both_cpu_kernels):
    from benchmark.metrics.extractors.i3d import FusedInceptionI3d, I3DFeatures

    inference.set_fused_cpu_kernel(fused_kernel)
    net = I3DFeatures(weights_path=str(i3d_file))
    assert isinstance(net.model, FusedInceptionI3d)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in net.model.modules())
    assert not any(b.requires_grad for b in net.model.buffers())
    clips, refs = i3d_reference
    if not fused_kernel:  # the GPU's path (F.conv3d, then ReLU): one clip is enough
        clips, refs = clips[1:], refs[1:]
    for clip, ref in zip(clips, refs):
        out = net(clip)
        assert out.dtype == torch.float64 and not out.is_inference()
        assert ref.abs().max() > 0.5  # a live network (random BN statistics, eps 1e-3 matters)
        assert max_abs(out, ref) <= TOL


def test_i3d_same_padding_fast_paths_are_exact():
    """The pool rewrites (own padding, ceil_mode) are bitwise equal to padding with -inf first."""
    from benchmark.metrics.extractors.i3d import max_pool_same, max_pool_same_fast

    g = torch.Generator().manual_seed(1)
    for size in [(5, 14, 14), (4, 10, 10), (3, 14, 13), (8, 30, 30), (2, 7, 7), (1, 5, 5)]:
        x = torch.randn(2, 4, *size, generator=g)
        for kernel, stride in [((3, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)),
                               ((2, 2, 2), (2, 2, 2)), ((2, 2, 2), (1, 1, 1)), ((5, 3, 1), (1, 1, 1))]:
            want = max_pool_same(x, kernel, stride)
            for layout in (torch.contiguous_format, torch.channels_last_3d):
                assert torch.equal(max_pool_same_fast(x.contiguous(memory_format=layout), kernel, stride), want)


# -- C3D ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def c3d_files(tmp_path_factory):
    """The chainer npz (every layer random, He-scaled; conv1a scaled for inputs of +-128, biases
    non-zero) and a random mean clip."""
    from benchmark.metrics.extractors.c3d import MEAN_SHAPE, expected_shapes

    d = tmp_path_factory.mktemp("c3d")
    rng = np.random.default_rng(0)
    arrays = {}
    for k, shape in expected_shapes().items():
        if k.endswith("/W"):
            fan_in = int(np.prod(shape[1:]))
            scale = (2.0 / fan_in) ** 0.5 / (128.0 if k == "conv1a/W" else 1.0)
            arrays[k] = rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)
        else:
            arrays[k] = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
    np.savez(d / "conv3d_deepnetA_ucf.npz", **arrays)
    np.savez(d / "mean2.npz", mean=rng.uniform(80, 140, MEAN_SHAPE).astype(np.float32))
    return d / "conv3d_deepnetA_ucf.npz", d / "mean2.npz"


def test_c3d_fused_equals_reference(c3d_files):
    from benchmark.metrics.extractors.c3d import C3DProbabilities, FusedC3D

    w, mean = (str(p) for p in c3d_files)
    ref = C3DProbabilities(weights_path=w, mean_path=mean, fused=False)
    fused = C3DProbabilities(weights_path=w, mean_path=mean)
    assert isinstance(fused.model, FusedC3D)
    x = torch.rand(1, 16, 3, 24, 32, generator=torch.Generator().manual_seed(2))
    a, b = ref.logits(x), fused.logits(x)  # __call__ is their float64 softmax
    assert a.abs().max() > 0.5 and max_abs(a, b) <= TOL


# -- VGG16 ----------------------------------------------------------------------------------------
def test_vgg16_fused_equals_reference(tmp_path, monkeypatch):
    from benchmark.metrics.extractors.vgg import VGG16Relu33, expected_shapes

    g = torch.Generator().manual_seed(5)
    state = {}
    for k, shape in expected_shapes().items():  # torchvision's full vgg16 keys; unused layers as views
        if k.startswith("features.") and int(k.split(".")[1]) < 16:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 10
            state[k] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        else:
            state[k] = torch.zeros(1).expand(shape)
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    pin(monkeypatch, tmp_path, "vgg16_imagenet", path)
    ref, fused = VGG16Relu33(weights_path=str(path), fused=False), VGG16Relu33(weights_path=str(path))
    assert fused.weights.comparable and fused.comparable
    assert sum(isinstance(m, inference.FoldedConv) for m in fused.features) == 7  # conv1_1 ... conv3_3
    x = torch.randn(3, 3, 36, 44, generator=g)
    with torch.inference_mode():
        a, b = ref(x), fused(x)
    assert a.shape == b.shape == (3, 256, 9, 11) and a.abs().max() > 0.5 and max_abs(a, b) <= TOL


# -- Inception ------------------------------------------------------------------------------------
def test_inception_fused_equals_reference(tmp_path, monkeypatch):
    pytest.importorskip("pytorch_fid")
    from benchmark.metrics.extractors.inception import InceptionFrameFeatures, build_fid_inception

    g = torch.Generator().manual_seed(7)
    state = build_fid_inception().state_dict()  # pytorch-fid's keys, random values
    for k, t in state.items():
        if not t.is_floating_point():
            continue
        if t.ndim > 1:
            t.copy_(torch.randn(t.shape, generator=g) * (2.0 / t[0].numel()) ** 0.5)
        elif k.endswith("running_var"):
            t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
        elif k.endswith("bn.weight"):
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
        else:  # running_mean, bn.bias, fc.bias
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    pin(monkeypatch, tmp_path, "inception_fid", path)
    ref = InceptionFrameFeatures(weights_path=str(path), fused=False)
    fused = InceptionFrameFeatures(weights_path=str(path))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.net.modules())
    assert sum(isinstance(m, inference.FoldedConv) for m in fused.net.modules()) == 94
    x = torch.rand(1, 2, 3, 30, 40, generator=g)
    (pa, la), (pb, lb) = ref.pool_and_logits(x), fused.pool_and_logits(x)
    assert pa.abs().max() > 0.5 and max_abs(pa, pb) <= TOL and max_abs(la, lb) <= TOL


# -- precision, cache key, batch sizes --------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:The ``compute`` method")  # states filled by update_features
def test_bfloat16_features_are_close_recorded_and_not_comparable(i3d_file, i3d_reference, tmp_path,
                                                                   monkeypatch):
    """The mechanism on CPU: bfloat16 autocast changes features (so it is in the protocol and the
    cache key) by a bounded amount, and its numbers are labelled not comparable even with pinned weights."""
    from benchmark.metrics.extractors.i3d import I3DFeatures
    from benchmark.metrics.fvd import FrechetVideoDistance

    pin(monkeypatch, tmp_path, "i3d_kinetics400", i3d_file)
    clips, refs = i3d_reference
    f32 = I3DFeatures(weights_path=str(i3d_file))
    bf16 = I3DFeatures(weights_path=str(i3d_file), precision="bfloat16")
    assert f32.comparable and not bf16.comparable
    out = bf16(clips[0])
    diff = max_abs(out, refs[0])
    assert out.dtype == torch.float64 and 1e-4 < diff <= 0.05 * float(refs[0].abs().max())
    assert f32.protocol()["precision"] == "float32" and bf16.protocol()["precision"] == "bfloat16"
    cache = FeatureCache(tmp_path)
    assert cache.folder(f32) != cache.folder(bf16)
    # fused and reference networks share a key: same function, float32 rounding only (documented)
    assert cache.folder(f32) == cache.folder(I3DFeatures(weights_path=str(i3d_file), fused=False))

    m = FrechetVideoDistance(extractor=bf16)
    feats = torch.randn(4, 400, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m.update_features(feats[:2], real=True)
    m.update_features(feats[2:], real=False)
    v = m.compute()["fvd"]
    assert v.extra["comparable"] is False and "bfloat16" in v.extra["not_comparable_reason"]
    assert v.extra["execution"]["precision"] == "bfloat16"
    assert m.protocol()["features"]["precision"] == "bfloat16"


def test_float16_needs_cuda_and_unknown_precision_is_refused():
    from benchmark.metrics.extractors.i3d import I3DFeatures

    with pytest.raises(ValueError, match="needs a CUDA device"):
        I3DFeatures(weights="random", precision="float16")
    with pytest.raises(ValueError, match="precision must be one of"):
        inference.check_precision("fp8", "cpu")


def test_batch_size_chosen_for_the_device(monkeypatch):
    from benchmark.metrics.extractors.i3d import I3DFeatures

    assert inference.choose_batch_size("cpu", 1e9, cpu=8, limit=64) == 8
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 * 2**30, 80 * 2**30))
    assert inference.choose_batch_size("cuda", 2**28, cpu=8, limit=64) == 20  # half of 10 GiB / 256 MiB
    assert inference.choose_batch_size("cuda", 2**40, cpu=8, limit=64) == 1
    assert inference.choose_batch_size("cuda", 1, cpu=8, limit=64) == 64
    net = I3DFeatures.__new__(I3DFeatures)
    net.batch_size, net.precision, net.device = None, "float32", torch.device("cuda")
    assert 1 <= net.batch_for(16) < net.batch_for(9) <= I3DFeatures.MAX_BATCH  # longer clips, fewer per pass
    net.device = torch.device("cpu")
    assert net.batch_for(16) == I3DFeatures.CPU_BATCH
    net.batch_size = 3
    assert net.batch_for(16) == 3


def test_folded_conv_matches_conv_bn_relu_on_both_kernels(both_cpu_kernels):
    g = torch.Generator().manual_seed(3)
    for nd in (2, 3):
        conv = (torch.nn.Conv2d if nd == 2 else torch.nn.Conv3d)(5, 7, 3, stride=2, padding=1, bias=False)
        bn = (torch.nn.BatchNorm2d if nd == 2 else torch.nn.BatchNorm3d)(7, eps=1e-3)
        with torch.no_grad():
            for t in (conv.weight, bn.weight, bn.bias, bn.running_mean):
                t.copy_(torch.randn(t.shape, generator=g))
            bn.running_var.copy_(torch.rand(7, generator=g) + 0.1)
        conv.eval(), bn.eval()
        x = torch.randn(2, 5, *([9] * nd), generator=g)
        ref = torch.relu(bn(conv(x))).detach()
        for fused_kernel in (True, False):
            inference.set_fused_cpu_kernel(fused_kernel)
            out = inference.FoldedConv.from_modules(conv, bn)(x.contiguous(memory_format=inference.channels_last(x)))
            assert max_abs(out, ref) <= TOL


def test_split_across_threads_keeps_order_and_restores_thread_settings():
    import threading

    streams = torch.get_num_threads()
    if streams < 2:
        pytest.skip("needs 2 or more intra-op threads")
    seen = []

    def double(chunk):
        seen.append((threading.get_ident(), torch.get_num_threads()))
        return chunk * 2

    x = torch.arange(14.0).view(7, 2)
    assert torch.equal(inference.split_across_threads(double, x), x * 2)
    assert len(seen) == streams and len({t for t, _ in seen}) == streams and all(n == 1 for _, n in seen)
    assert torch.get_num_threads() == streams
    seen.clear()
    assert torch.equal(inference.split_across_threads(double, x[:1]), x[:1] * 2)  # fewer items: one call
    assert seen == [(threading.get_ident(), streams)]
