"""Convert the tfhub I3D module's variables into the torch backend's weight file.

    python -m benchmark.metrics.extractors.convert_i3d MODULE_DIR OUT.safetensors

Reads ``MODULE_DIR/variables/variables`` (TF checkpoint), maps ``RGB/inception_i3d/<scope>/conv_3d/w``
``[kt, kh, kw, in, out]`` -> ``<scope>.conv_3d.weight`` ``[out, in, kt, kh, kw]``, ``.../b`` -> ``.bias``,
``.../batch_norm/{beta,moving_mean,moving_variance}`` -> flattened, checks every key and shape
against :class:`~benchmark.metrics.extractors.i3d.InceptionI3d`, and writes safetensors (float32,
sorted keys: the same module always gives the same bytes, so the result can be checked against the
sha256 pinned in manifests/weights.yaml). Prints the file's sha256.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from benchmark.metrics.extractors.i3d import check_state_dict
from benchmark.utils import UserError, atomic_path, sha256_file

PREFIX = "RGB/inception_i3d/"


def tf_name_to_torch(name: str) -> str | None:
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX):].split("/")
    last = {"w": "weight", "b": "bias"}.get(parts[-1], parts[-1])
    return ".".join(parts[:-1] + [last])


def read_module_variables(module_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    from benchmark.metrics.extractors.tf_i3d import _tf

    tf = _tf()

    ckpt = Path(module_dir) / "variables" / "variables"
    if not Path(str(ckpt) + ".index").is_file():
        raise UserError(f"{module_dir}: no variables/variables.index; expected the untarred tfhub module")
    reader = tf.train.load_checkpoint(str(ckpt))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def convert(module_dir: str | os.PathLike) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for name, value in read_module_variables(module_dir).items():
        key = tf_name_to_torch(name)
        if key is None:
            continue
        a = np.asarray(value, dtype=np.float32)
        if key.endswith("conv_3d.weight"):
            a = a.transpose(4, 3, 0, 1, 2)
        elif a.ndim > 1:
            a = a.reshape(-1)
        state[key] = torch.from_numpy(np.ascontiguousarray(a))
    check_state_dict(state, f"{module_dir} (converted)")
    return state


def save(state: dict[str, torch.Tensor], out: str | os.PathLike) -> str:
    from safetensors.torch import save_file

    with atomic_path(out) as tmp:
        # no metadata: safetensors writes a metadata map in hash order, which would change the bytes
        save_file({k: state[k].contiguous() for k in sorted(state)}, str(tmp))
    return sha256_file(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("module_dir", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    digest = save(convert(args.module_dir), args.out)
    print(f"{args.out}  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
