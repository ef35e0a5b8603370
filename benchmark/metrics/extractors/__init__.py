"""Pretrained feature networks (I3D, Inception, C3D, VGG16) behind a common call:
``extractor(videos (N, T, C, H, W) in [0, 1]) -> features (N, d)`` float64, with ``protocol()`` (what
is computed: the feature cache's key), ``weights`` (a :class:`benchmark.weights.ResolvedWeights`),
``comparable`` / ``not_comparable_reason`` and ``execution()`` (how: fused or reference network,
device, batch size). Each keeps the reference network that loads the real weight file and runs an
inference network derived from it (:mod:`benchmark.metrics.extractors.inference`). Heavy optional
deps load lazily."""


def check_state_shapes(state, want: dict, source: str, what: str) -> None:
    """Raise :class:`benchmark.video.VideoFormatError` unless ``state`` (a dict of arrays/tensors)
    has exactly the keys of ``want`` with those shapes; the message names what is wrong."""
    from benchmark.video import VideoFormatError

    if not isinstance(state, dict):
        raise VideoFormatError(f"{source}: expected a state_dict, got {type(state).__name__}")
    missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or unexpected:
        raise VideoFormatError(f"{source}: not {what}: {len(missing)} missing key(s) {missing[:5]}, "
                               f"{len(unexpected)} unexpected key(s) {unexpected[:5]}")
    bad = [f"{k}: {tuple(state[k].shape)} != {tuple(want[k])}" for k in want
           if tuple(state[k].shape) != tuple(want[k])]
    if bad:
        raise VideoFormatError(f"{source}: wrong shapes: {'; '.join(bad[:5])}")
