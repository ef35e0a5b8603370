"""FVD's reference backend: the tfhub I3D module run through tensorflow-hub, as in google-research's
``frechet_video_distance.py`` (TF1 ``resize_bilinear`` to 224, ``2 x / 255 - 1``, batches of exactly
16 videos, embedding ``RGB/inception_i3d/Mean:0`` = the module's default output).

The module is read from a local directory (the weights dir's ``i3d-kinetics-400_1/``, a path, or a
``$TFHUB_CACHE_DIR`` handle): nothing is downloaded.

:func:`build_replica` writes a TF1 SavedModel with the module's graph and variable names and random
weights; the parity test loads it through tensorflow-hub, converts it with
:mod:`benchmark.metrics.extractors.convert_i3d` and checks the torch backend against it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.metrics.extractors.i3d import BN_EPS, MIN_FRAMES, MIXED, NUM_CLASSES, RESOLUTION
from benchmark.utils import UserError
from benchmark.video import VideoFormatError

MODULE_BATCH = 16
SCOPE = "RGB/inception_i3d"


def _tf():
    # triton (loaded by torch._dynamo, e.g. via torchvision) segfaults when first imported after
    # tensorflow in the same process: load it first.
    import torchvision  # noqa: F401

    from benchmark.extras import require

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return require("tensorflow", "tf", "the TF reference FVD backend")


# ------------------------------------------------------------------------- the TF replica ---

def _replica_graph(tf, x, rng: np.random.RandomState):
    """The I3D graph of deepmind/kinetics-i3d under ``RGB/inception_i3d`` with random variables."""
    v1 = tf.compat.v1

    def var(name, shape, value):
        return v1.get_variable(name, shape=shape, dtype=tf.float32,
                               initializer=v1.constant_initializer(value.astype(np.float32)))

    def unit(net, cout, kernel=(1, 1, 1), stride=(1, 1, 1), name="unit_3d", bn=True, relu=True, bias=False):
        cin = int(net.shape[-1])
        with v1.variable_scope(name):
            with v1.variable_scope("conv_3d"):
                fan_in = cin * int(np.prod(kernel))
                w = var("w", [*kernel, cin, cout], rng.randn(*kernel, cin, cout) * np.sqrt(2.0 / fan_in))
                net = tf.nn.conv3d(net, w, strides=[1, *stride, 1], padding="SAME")
                if bias:
                    net = net + var("b", [cout], rng.randn(cout) * 0.1)
            if bn:
                with v1.variable_scope("batch_norm"):
                    shape = [1, 1, 1, 1, cout]  # Sonnet 1 keeps BN statistics in the input's rank
                    beta = var("beta", shape, rng.randn(*shape) * 0.1)
                    mean = var("moving_mean", shape, rng.randn(*shape) * 0.1)
                    variance = var("moving_variance", shape, rng.rand(*shape) * 1.5 + 0.5)
                    net = tf.nn.batch_normalization(net, mean, variance, beta, None, BN_EPS)
        return tf.nn.relu(net) if relu else net

    def pool(net, k, s, name):
        return tf.nn.max_pool3d(net, ksize=[1, *k, 1], strides=[1, *s, 1], padding="SAME", name=name)

    with v1.variable_scope("RGB"), v1.variable_scope("inception_i3d"):
        net = unit(x, 64, (7, 7, 7), (2, 2, 2), name="Conv3d_1a_7x7")
        net = pool(net, (1, 3, 3), (1, 2, 2), "MaxPool3d_2a_3x3")
        net = unit(net, 64, name="Conv3d_2b_1x1")
        net = unit(net, 192, (3, 3, 3), name="Conv3d_2c_3x3")
        net = pool(net, (1, 3, 3), (1, 2, 2), "MaxPool3d_3a_3x3")
        for name, (b0, (b1a, b1b), (b2a, b2b), b3) in MIXED.items():
            if name == "Mixed_4b":
                net = pool(net, (3, 3, 3), (2, 2, 2), "MaxPool3d_4a_3x3")
            if name == "Mixed_5b":
                net = pool(net, (2, 2, 2), (2, 2, 2), "MaxPool3d_5a_2x2")
            with v1.variable_scope(name):
                with v1.variable_scope("Branch_0"):
                    br0 = unit(net, b0, name="Conv3d_0a_1x1")
                with v1.variable_scope("Branch_1"):
                    br1 = unit(unit(net, b1a, name="Conv3d_0a_1x1"), b1b, (3, 3, 3), name="Conv3d_0b_3x3")
                with v1.variable_scope("Branch_2"):
                    n2 = "Conv3d_0a_3x3" if name == "Mixed_5b" else "Conv3d_0b_3x3"
                    br2 = unit(unit(net, b2a, name="Conv3d_0a_1x1"), b2b, (3, 3, 3), name=n2)
                with v1.variable_scope("Branch_3"):
                    br3 = unit(pool(net, (3, 3, 3), (1, 1, 1), "MaxPool3d_0a_3x3"), b3, name="Conv3d_0b_1x1")
                net = tf.concat([br0, br1, br2, br3], 4)
        with v1.variable_scope("Logits"):
            net = tf.nn.avg_pool3d(net, ksize=[1, 2, 7, 7, 1], strides=[1, 1, 1, 1, 1], padding="VALID")
            logits = unit(net, NUM_CLASSES, name="Conv3d_0c_1x1", bn=False, relu=False, bias=True)
            logits = tf.squeeze(logits, [2, 3], name="SpatialSqueeze")
        return tf.reduce_mean(logits, axis=1, name="Mean")


def build_replica(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Export a TF1 SavedModel replica of the tfhub I3D module (same graph, variable names and input
    signature ``default: float32 [16, T, 224, 224, 3]`` in [-1, 1] -> ``default: [16, 400]``)."""
    tf = _tf()
    v1 = tf.compat.v1
    out = Path(out_dir)
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [MODULE_BATCH, None, RESOLUTION, RESOLUTION, 3], name="inputs")
        y = _replica_graph(tf, x, np.random.RandomState(seed))
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(out))
            sig = v1.saved_model.signature_def_utils.predict_signature_def(inputs={"default": x},
                                                                          outputs={"default": y})
            builder.add_meta_graph_and_variables(sess, [], signature_def_map={"default": sig})
            builder.save()
    return out


# ---------------------------------------------------------------------------- the backend ---

def resolve_module(handle: str | os.PathLike | None = None) -> Path:
    """A local module directory: ``handle`` if given, else the pinned weights dir entry."""
    from benchmark.weights import default_path, get_spec

    spec = get_spec("i3d_kinetics400_tfhub")
    p = Path(handle) if handle is not None else default_path(spec)
    if not (p / "saved_model.pb").is_file():
        if handle is not None and not Path(handle).exists():
            from benchmark.extras import require

            hub = require("tensorflow_hub", "tf", "the TF reference FVD backend")  # a hub handle from $TFHUB_CACHE_DIR

            p = Path(hub.resolve(str(handle)))
        if not (p / "saved_model.pb").is_file():
            raise UserError(f"missing tfhub I3D module: {p} has no saved_model.pb. {spec.how_to_obtain()}")
    return p


class TFHubI3DFeatures:
    """The FVD embedding through the tfhub module (TF reference backend); same call as
    :class:`~benchmark.metrics.extractors.i3d.I3DFeatures`. Batches are padded to 16 videos."""

    name = "i3d_kinetics400_tfhub"
    dim = NUM_CLASSES
    backend = "tf"

    def __init__(self, module: str | os.PathLike | None = None, weights: str = "pinned", **_: Any) -> None:
        if weights != "pinned":
            raise UserError("the TF reference backend runs the pinned module only (no --weights random)")
        from benchmark.weights import ResolvedWeights, check_hash, content_hash, get_spec

        path = resolve_module(module)
        # the whole module (saved_model.pb and variables/) against the pin, before TF is loaded: a
        # mismatch raises WeightsError, as for the torch weights; with nothing pinned the module is
        # recorded by its hash and labelled not comparable
        digest = content_hash(path)
        spec = get_spec("i3d_kinetics400_tfhub")
        verified = check_hash(spec, digest, path)
        tf = _tf()
        from benchmark.extras import require

        hub = require("tensorflow_hub", "tf", "the TF reference FVD backend")

        self.weights = ResolvedWeights(name=spec.name, mode="pinned", path=str(path), sha256=digest,
                                       verified=verified, comparable=verified,
                                       note="" if verified else "module hash not pinned")
        self._tf = tf
        obj = hub.load(str(path))
        sig = obj.signatures["default"]
        self._obj = obj  # keep the variables alive
        self._fn = sig
        self._input = next(iter(sig.structured_input_signature[1]))

    def protocol(self) -> dict[str, Any]:
        return {"network": "tfhub deepmind/i3d-kinetics-400/1", "backend": self.backend,
                "embedding": "RGB/inception_i3d/Mean:0 (400-d logits averaged over time)",
                "resize": "tf.compat.v1.image.resize_bilinear to 224x224 (no crop)",
                "value_range": "[-1, 1]", "module_batch": MODULE_BATCH, "min_frames": MIN_FRAMES,
                "precision": "float32", "weights": self.weights.record()}

    def preprocess(self, videos: Tensor):
        tf = self._tf
        n, t, c, h, w = videos.shape
        if t < MIN_FRAMES:
            raise VideoFormatError(f"FVD/I3D needs clips of at least {MIN_FRAMES} frames, got T={t}")
        x = (videos.float() * 255.0).permute(0, 1, 3, 4, 2).reshape(n * t, h, w, c).numpy()
        if c == 1:
            x = np.repeat(x, 3, axis=-1)
        x = tf.compat.v1.image.resize_bilinear(x, (RESOLUTION, RESOLUTION))
        x = tf.reshape(x, [n, t, RESOLUTION, RESOLUTION, 3])
        return 2.0 * tf.cast(x, tf.float32) / 255.0 - 1.0

    def __call__(self, videos: Tensor) -> Tensor:
        out = []
        for i in range(0, len(videos), MODULE_BATCH):
            chunk = videos[i:i + MODULE_BATCH]
            m = len(chunk)
            if m < MODULE_BATCH:  # the module takes exactly 16: pad with copies, drop their outputs
                chunk = torch.cat([chunk, chunk[-1:].expand(MODULE_BATCH - m, *chunk.shape[1:])])
            res = self._fn(**{self._input: self.preprocess(chunk)})
            y = res["default"] if "default" in res else next(iter(res.values()))
            out.append(torch.from_numpy(y.numpy()[:m]).double())
        return torch.cat(out) if out else torch.zeros(0, self.dim, dtype=torch.float64)
