"""bits_per_dim: closed forms of the metric, and the harness path from Method.log_likelihood
(a test-local independent-pixel categorical model, whose likelihood is a closed form)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from benchmark.methods import Method
from benchmark.metrics.functional.likelihood import bits_per_dim
from benchmark.metrics.likelihood import BitsPerDim
from benchmark.pipeline import RunSpec, run_method, run_real, verify_run
from benchmark.registry import METHODS, METRICS
from benchmark.utils import read_json
from tests.conftest import tiny_options


def test_uniform_levels_are_eight_bits_and_the_state_streams():
    d = 3 * 16 * 16
    uniform = torch.full((5,), -d * math.log(256.0))
    assert bits_per_dim(uniform, d).tolist() == pytest.approx([8.0] * 5)
    one, parts = BitsPerDim(), BitsPerDim()
    nats = -torch.rand(10, dtype=torch.float64) * 1000
    one.update(nats, dims=100)
    for chunk in nats.split(3):
        parts.update(chunk, dims=100)
    a, b = one.compute()["bits_per_dim"], parts.compute()["bits_per_dim"]
    assert a.value == pytest.approx(b.value) and a.n == b.n == 10 and a.ci_low < a.value < a.ci_high
    assert a.value == pytest.approx(float((-nats / (100 * math.log(2))).mean()))
    assert METRICS.get("bits_per_dim").higher_is_better is False
    with pytest.raises(ValueError, match="finite nats"):
        one.update(torch.tensor([float("nan")]), dims=4)


@dataclass(frozen=True)
class _PixelCfg:
    smoothing: float = 1.0


class _PixelCategorical(Method):
    """Every pixel (channel, position, frame) independent with one learned distribution over the 256
    levels (the training histogram, Laplace-smoothed): log p(video) = sum of log p(level)."""

    tasks = ("prediction", "synthesis")
    stochastic = True
    trainable = True
    profiles = {"smoke": lambda spec: _PixelCfg(), "paper": lambda spec: _PixelCfg()}

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.log_p = torch.full((256,), -math.log(256.0), dtype=torch.float64)

    def fit(self, data, run_dir, *, seed, resume=False, progress=True, stage="train"):
        counts = np.bincount(np.asarray(data.videos).ravel(), minlength=256) + self.config.smoothing
        self.log_p = torch.from_numpy(np.log(counts / counts.sum()))
        return {}

    def state_dict(self):
        return {"log_p": self.log_p}

    def load_state_dict(self, state):
        self.log_p = state["log_p"]

    def log_likelihood(self, videos, cond):
        levels = (videos * 255).round().long()
        if cond.context is not None:   # prediction: the future frames count (likelihood_protocol)
            levels = levels[:, cond.context_frames:]
        return self.log_p[levels].flatten(1).sum(1)

    def likelihood_protocol(self):
        return {"frames": "future", "dequantization": "none (discrete 256 levels)"}

    def _draw(self, shape, seed):
        idx = torch.multinomial(self.log_p.exp(), int(np.prod(shape)), replacement=True, generator=self.rng(seed))
        return idx.view(shape).float() / 255

    def generate(self, cond, *, seed):
        return self._draw((cond.batch_size, cond.num_frames, self.spec.channels, *self.spec.resolution), seed)

    def predict(self, cond, *, seed):
        return self._draw((cond.batch_size, cond.num_samples, cond.num_frames, self.spec.channels,
                           *self.spec.resolution), seed)


def test_bits_per_dim_through_the_pipeline(tiny_data_root, tmp_path, register_method):
    register_method("pixel_categorical", _PixelCategorical)
    spec = RunSpec(method="pixel_categorical", dataset="moving-shapes", out=tmp_path, data_root=tiny_data_root,
                   progress=False, dataset_options=tiny_options(), metrics=["psnr", "fcs", "bits_per_dim"])
    path = run_method(spec)
    res = read_json(path)
    from benchmark.pipeline import load_dataset

    ds = load_dataset("moving-shapes", tiny_data_root, **tiny_options())
    counts = np.bincount(np.asarray(ds.load_split("train").videos).ravel(), minlength=256) + 1.0
    log_p = np.log(counts / counts.sum())
    for task in ("prediction", "synthesis"):
        p = ds.protocol(task, "test")
        clips = np.asarray(ds.clips(p).videos)
        counted = clips[:, p.context_frames:]                       # prediction: future frames; synthesis: all
        per_video = -log_p[counted].reshape(len(clips), -1).sum(1) / (counted[0].size * math.log(2))
        got = res["tasks"][task]["metrics"]["bits_per_dim"]
        assert got["value"] == pytest.approx(per_video.mean(), rel=1e-12) and got["n"] == len(clips)
        assert got["higher_is_better"] is False
        proto = res["tasks"][task]["metric_protocols"]["bits_per_dim"]
        assert proto["frames_counted"] == counted.shape[1] and proto["dims"] == counted[0].size
        assert proto["dequantization"] == "none (discrete 256 levels)"
        assert proto["frames"] == "future"
    # the saved likelihoods are artifacts; manifest verify recomputes the number from them
    manifest = read_json(path.parent / "manifest.json")
    assert "samples/prediction_likelihood.npz" in manifest["artifacts"]
    assert verify_run(path.parent, data_root=tiny_data_root) == []
    # no likelihood, no bits_per_dim: other methods and the real-data bound do not get the column
    other = RunSpec(method="copy_last", dataset="moving-shapes", out=tmp_path, data_root=tiny_data_root,
                    progress=False, dataset_options=tiny_options(), metrics=["psnr", "bits_per_dim"])
    assert "bits_per_dim" not in read_json(run_method(other))["tasks"]["prediction"]["metrics"]
    real = RunSpec(method="real", dataset="moving-shapes", out=tmp_path, data_root=tiny_data_root, progress=False,
                   dataset_options=tiny_options())
    assert not any("bits_per_dim" in t["metrics"] for t in read_json(run_real(real))["tasks"].values())
    assert METHODS.get("pixel_categorical").has_likelihood() and not METHODS.get("copy_last").has_likelihood()
