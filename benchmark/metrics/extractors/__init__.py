"""Pretrained feature networks (I3D, Inception, C3D, VGG16) behind a common call:
``extractor(videos (N, T, C, H, W) in [0, 1]) -> features (N, d)`` float64, with ``protocol()`` and
``weights`` (a :class:`benchmark.weights.ResolvedWeights`). Heavy optional deps load lazily."""
