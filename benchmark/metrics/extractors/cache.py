"""On-disk feature cache keyed by content: sha256 of the videos' uint8 bytes, the network's weights
hash, its protocol and the source of the extractor's code (every project module it imports, so an
edit of the network code never serves stale features). A second evaluation against the same real
split reads the features instead of running the network again.

Layout: ``<root>/<extractor>/<key of weights+protocol>/<sha256 of the batch>.npy`` (float64).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from benchmark.utils import atomic_path, sha256_json


def videos_hash(videos: Tensor) -> str:
    """sha256 of a float [0, 1] batch as the uint8 videos it came from (shape included)."""
    u8 = (videos.detach().cpu().float() * 255.0).round().clamp(0, 255).to(torch.uint8).contiguous().numpy()
    h = hashlib.sha256(f"{u8.shape}|".encode())
    h.update(memoryview(u8).cast("B"))
    return h.hexdigest()


class FeatureCache:
    """``cache(extractor, videos)`` -> features, computed once per (videos, weights, protocol)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._folders: dict[int, Path] = {}

    def folder(self, extractor: Any) -> Path:
        if id(extractor) not in self._folders:
            from benchmark.sources import source_hash

            key = sha256_json({"weights": extractor.weights.sha256, "protocol": extractor.protocol(),
                               "source": source_hash(type(extractor))})
            self._folders[id(extractor)] = self.root / extractor.name / key[:24]
        return self._folders[id(extractor)]

    def __call__(self, extractor: Callable[[Tensor], Tensor], videos: Tensor) -> Tensor:
        path = self.folder(extractor) / f"{videos_hash(videos)}.npy"
        if path.is_file():
            self.hits += 1
            return torch.from_numpy(np.load(path))
        self.misses += 1
        feats = extractor(videos)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, feats.numpy().astype(np.float64))
        return feats
