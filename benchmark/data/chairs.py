"""``chairs``: Chair-CAD, the rendered chairs of Aubry et al. (CVPR 2014), as videos (NAVSLP).

Raw file: ``rendered_chairs.tar`` holding
``rendered_chairs/<model>/renders/image_<iii>_p<020|030>_t<azimuth>_r096.png`` (1,393 models x 62
views, 31 azimuths at two elevations). Following Aich et al. 2020 (and MoCoGAN's use of the set), a
model's renders are sorted by file name and the first ``frames`` (16) form one video; each frame is
cropped to ``[100:500, 100:500]`` and resized to ``size`` x ``size`` RGB. The tar is indexed once
and only the selected PNGs are read (never extracted). ``num_models`` keeps a random subset of
models drawn with ``np.random.RandomState(model_seed)`` (Aich et al. 2020 uses 820 of the 1,393).

There is no split (synthesis from the data distribution): every video is a training and a
reference video. Protocol: synthesis 16 frames, 64x64x3.

>>> from benchmark.data.chairs import RENDER_RE
>>> RENDER_RE.search("rendered_chairs/1a6f615e/renders/image_003_p020_t045_r096.png").group(1)
'1a6f615e'
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import Protocol, TaskProtocols
from benchmark.data.real import CorruptInputError, RealVideoDataset
from benchmark.data.store import StoreWriter
from benchmark.data.decode import resize_rgb
from benchmark.registry import DATASETS
from benchmark.utils import UserError

TAR = "rendered_chairs.tar"
RENDER_RE = re.compile(r"rendered_chairs/([^/]+)/renders/(image_\d+_p\d+_t\d+_r\d+\.png)$")
CROP = (100, 500, 100, 500)  # y0, y1, x0, x1


@DATASETS.register("chairs")
class ChairCAD(RealVideoDataset):
    """Chair-CAD renders as 16-frame RGB videos, one per chair model."""

    name = "chairs"
    manifest_name = "chairs"
    description = "Chair-CAD (Aubry et al. 2014): first 16 sorted renders of each chair model as one video."
    splits = ("train",)

    def __init__(self, root: Any = None, size: int = 64, frames: int = 16, num_models: int | None = None,
                 model_seed: int = 0, on_corrupt: str = "error", workers: int = 0,
                 strict_inputs: bool = True) -> None:
        super().__init__(root, on_corrupt=on_corrupt, workers=workers, strict_inputs=strict_inputs)
        self.size, self.frames, self.num_models, self.model_seed = int(size), int(frames), num_models, model_seed
        s = (self.size, self.size)
        p = Protocol(f"synthesis-{self.frames}", "synthesis", "train", 0, self.frames, s, 3)
        self.protocols = {"synthesis": TaskProtocols(train=p, test=p)}

    def options(self) -> dict[str, Any]:
        return {"size": self.size, "frames": self.frames, "num_models": self.num_models,
                "model_seed": self.model_seed if self.num_models else None}

    def preprocessing(self) -> dict[str, Any]:
        return {"size": self.size, "frames": self.frames, "crop": list(CROP), "resize": "pillow-bilinear",
                "num_models": self.num_models, "model_seed": self.model_seed}

    def frame_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def write_store(self, writer: StoreWriter, paths: dict[str, Path]) -> None:
        from PIL import Image

        with tarfile.open(paths[TAR], "r:") as tar:
            models: dict[str, list[tarfile.TarInfo]] = {}
            for m in tar.getmembers():
                hit = RENDER_RE.search(m.name)
                if hit and m.isfile():
                    models.setdefault(hit.group(1), []).append(m)
            if not models:
                raise CorruptInputError(f"{paths[TAR]}: no rendered_chairs/<model>/renders/image_*.png inside")
            names = sorted(models)
            if self.num_models:
                if self.num_models > len(names):
                    raise UserError(f"chairs: num_models={self.num_models} but the tar has {len(names)} models")
                pick = np.random.RandomState(self.model_seed).permutation(len(names))[:self.num_models]
                names = [names[i] for i in sorted(pick)]
            y0, y1, x0, x1 = CROP
            for model in names:
                renders = sorted(models[model], key=lambda m: Path(m.name).name)
                if len(renders) < self.frames:
                    writer.exclude(model, f"only {len(renders)} renders, {self.frames} needed")
                    continue
                imgs = []
                try:
                    for m in renders[:self.frames]:
                        img = np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB"))
                        if img.shape[0] < y1 or img.shape[1] < x1:
                            raise CorruptInputError(f"{m.name}: {img.shape[1]}x{img.shape[0]} is smaller than the "
                                                    f"[{y0}:{y1}, {x0}:{x1}] crop")
                        imgs.append(img[y0:y1, x0:x1])
                except (OSError, CorruptInputError) as e:
                    if self.on_corrupt != "skip":
                        raise CorruptInputError(f"chairs: {model}: {e} (no store written; --skip-corrupt "
                                                f"leaves the model out and records it)") from e
                    writer.exclude(model, str(e))
                    continue
                writer.add_segment(resize_rgb(np.stack(imgs), (self.size, self.size)), video=model,
                                   renders=[Path(m.name).name for m in renders[:self.frames]])

    def segment_split(self, segment: dict[str, Any]) -> str | None:
        return "train"
