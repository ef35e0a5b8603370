"""Training the moving-shapes evaluator: its data stream, determinism, and (slow) the pinned hash."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmark.data.moving_shapes import MovingShapesConfig, generate_split, render_video
from benchmark.metrics.extractors import train_shapes_evaluator as T
from benchmark.metrics.extractors.shapes_evaluator import load_weights
from benchmark.utils import sha256_file


@pytest.fixture(scope="module")
def streams():
    return [T.ClipStream(o) for o, _ in T.TRAINING_CONFIGS]


def test_the_stream_starts_with_the_train_split_and_never_yields_held_out_videos(streams):
    cfg = MovingShapesConfig(split_sizes={"train": 6, "val": 1, "test": 1})
    videos, meta = generate_split(cfg, "train")
    for i in range(6):  # clip i of the stream is the train split's video i
        f = streams[0].factors(i)
        assert np.array_equal(render_video(f, 64, 20), videos[i])
        assert np.array_equal(streams[0].window(f, 3, 12), videos[i][3:15])  # windows render alone, same pixels
    held = streams[0].held_out
    assert len(held) == 64 + 128
    forced = T.ClipStream({})
    forced.held_out = forced.held_out | {T.sha256_json(streams[0].factors(0))}
    assert forced.factors(0) != streams[0].factors(0)  # a held-out draw is replaced by the next attempt


def test_batches_mix_both_renderings_and_clip_lengths(streams):
    setup = T.TrainSetup(batch_size=6)
    assert [T.clip_source(g) for g in range(6)] == [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1)]
    assert [T.window_frames(s, setup) for s in range(8)] == [16, 16, 16, 8, 16, 16, 16, 9]
    x, y = T.make_batch(streams, 3, setup)
    assert x.shape == (6, 3, 8, 32, 32) and set(y) == {"background", "count", "shapes", "colours", "sizes",
                                                       "directions", "speeds"}
    x2, y2 = T.make_batch(streams, 3, setup)
    assert torch.equal(x, x2) and all(torch.equal(y[k], y2[k]) for k in y)


def test_training_is_bitwise_deterministic(tmp_path, streams):
    from benchmark.metrics.extractors.shapes_evaluator import save_weights

    def run(seed, name):
        setup = T.TrainSetup(steps=2, batch_size=3, calibration_steps=1, warmup_steps=1, seed=seed)
        net, _ = T.train_evaluator(setup, progress=False, streams=streams)
        save_weights(net, tmp_path / name, T.training_record(setup))
        return sha256_file(tmp_path / name)

    assert run(0, "a") == run(0, "b") != run(1, "c")
    assert not torch.are_deterministic_algorithms_enabled()  # the training's settings were restored


def test_adamw_is_torchs_update():
    """The training's AdamW (its square root by NumPy) follows torch.optim.AdamW to float32 rounding over 30
    steps, weight decay and bias correction included; parameters without a gradient stay as they are."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    twin = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    twin.load_state_dict(net.state_dict())
    frozen, start = torch.nn.Parameter(torch.ones(3)), net[0].weight.detach().clone()
    ours = T.AdamW([*twin.parameters(), frozen], lr=2e-2, weight_decay=1e-2)
    ref = torch.optim.AdamW(net.parameters(), lr=2e-2, weight_decay=1e-2)
    for _ in range(30):
        x = torch.randn(16, 5)
        for model, opt in ((net, ref), (twin, ours)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert (twin[0].weight - start).abs().max() > 0.1  # it trained
    assert torch.equal(frozen, torch.ones(3))
    x = torch.randn(16, 5)

    def closure():
        ours.zero_grad()
        loss = twin(x).square().mean()
        loss.backward()
        return loss

    with torch.no_grad():
        before = twin(x).square().mean()
    assert torch.equal(ours.step(closure).detach(), before)  # the closure's loss, taken before the update


@pytest.mark.slow
def test_retraining_reproduces_the_pinned_file(tmp_path):
    """The shipped file, retrained from scratch on the portable kernel path (~15 min, one thread): same sha256."""
    from benchmark.metrics.extractors.shapes_evaluator import WEIGHTS_NAME
    from benchmark.weights import get_spec

    summary = T.train_and_save(tmp_path / "e.safetensors", T.TrainSetup(), progress=False)
    known = T.KNOWN_OTHER_FILES.get(summary["sha256"])
    if known:  # reproducible, but not the shipped file: a documented limit, shown as such (-rx)
        pytest.xfail(f"retrained to a known other file ({summary['sha256'][:12]}…), {known}")
    assert summary["sha256"] == get_spec(WEIGHTS_NAME).sha256, \
        f"retrained on {summary['kernel_path']}: another PyTorch/OpenBLAS version or training code " \
        "(docs/moving_shapes_evaluator.md)"


def test_cli_reports_whether_the_hash_matches_the_pin(monkeypatch, tmp_path, capsys):
    from benchmark import cli
    from benchmark.metrics.extractors.shapes_evaluator import WEIGHTS_NAME
    from benchmark.weights import get_spec

    pinned = get_spec(WEIGHTS_NAME).sha256
    calls = []

    def fake(out, setup, progress=True, portable=True):
        calls.append((out, setup.steps, portable))
        return {"path": str(out), "sha256": digest, "bytes": 1, "parameters": 2, "seconds": 3.0,
                "heldout_accuracy": {"default 64x64": {"frames 0..15": {"shapes": 0.5}}},
                "kernel_path": {"portable": portable, "torch": "2.x", "cpu": "Some CPU",
                                "cpu_capability": "DEFAULT" if portable else "AVX2",
                                "mkl_cbwr": "COMPATIBLE" if portable else None, "mkldnn": not portable,
                                "blas": "openblas 0.3.x Haswell"}}

    monkeypatch.setattr(T, "train_and_save", fake)
    digest = pinned
    out = tmp_path / "e.safetensors"
    assert cli.main(["weights", "train-embedded", "--out", str(out), "--check"]) == 0
    assert "matches the pinned sha256" in capsys.readouterr().out and calls[-1] == (out, 2000, True)
    digest = "0" * 64
    assert cli.main(["weights", "train-embedded", "--out", str(out), "--steps", "5"]) == 0
    text = capsys.readouterr().out
    assert "differs from the pinned sha256" in text and "shapes 0.500" in text and calls[-1][1:] == (5, True)
    assert "another setup, training code, PyTorch or OpenBLAS release" in text
    assert "ATen DEFAULT, MKL_CBWR COMPATIBLE, oneDNN off, BLAS openblas 0.3.x Haswell" in text
    assert cli.main(["weights", "train-embedded", "--out", str(out), "--check", "--native"]) == 1
    text = capsys.readouterr().out
    assert calls[-1][2] is False and "Some CPU, ATen AVX2" in text and "drop --native" in text
    digest = "ab" * 32  # a file the portable path were known to give elsewhere: the message says where
    monkeypatch.setitem(T.KNOWN_OTHER_FILES, digest, "what some other CPU gives")
    assert cli.main(["weights", "train-embedded", "--out", str(out), "--check"]) == 1
    assert "a known other file, what some other CPU gives" in capsys.readouterr().out


TINY = T.TrainSetup(steps=2, batch_size=3, calibration_steps=1, warmup_steps=1)

#: An x86-64 CPU without AVX, AVX2 or FMA, emulated on this one: ATen's kernel set (the native path
#: would use its scalar kernels there), MKL's instruction set and glibc's math variants (the tunable
#: masks the features for glibc's own dispatch).
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
             "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX"}


@pytest.fixture(scope="module")
def portable_runs(tmp_path_factory):
    """Two tiny trainings through ``train_and_save`` (each a child process on the portable kernel
    path): as this process is, and with :data:`OTHER_CPU` in the environment."""
    out = tmp_path_factory.mktemp("portable")
    runs = {}
    for name, env in (("here", {}), ("other_cpu", OTHER_CPU)):
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            runs[name] = T.train_and_save(out / f"{name}.safetensors", TINY, progress=False)
    return runs


def test_the_summary_names_the_kernel_path_that_made_the_bytes(tmp_path, portable_runs):
    """``train_and_save`` trains in a child process on the portable kernel path (ATen's scalar kernels,
    MKL's COMPATIBLE mode, no oneDNN) and says so; ``portable=False`` trains here, natively."""
    from benchmark.manifest import hardware

    portable = portable_runs["here"]
    blas = portable["kernel_path"].pop("blas")
    assert blas.startswith("openblas ") and blas.endswith(" Haswell")
    assert portable["kernel_path"] == {"portable": True, "torch": torch.__version__, "cpu": hardware()["cpu"],
                                       "cpu_capability": "DEFAULT", "mkl_cbwr": "COMPATIBLE", "mkldnn": False}
    native = T.train_and_save(tmp_path / "n.safetensors", TINY, progress=False, portable=False)
    assert native["kernel_path"]["portable"] is False
    assert native["kernel_path"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    _, meta = load_weights(portable["path"])  # the file says how it was made, without machine names
    kernels = meta["training"]["kernels"]
    assert kernels.pop("matmul") == f"openblas {blas.split()[1]}"
    assert kernels == {"portable": True, "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                       "OPENBLAS_CORETYPE": "Haswell", "mkldnn": False, "threads": 1}
    assert hardware()["cpu"] not in json.dumps(meta)


def test_portable_bytes_do_not_depend_on_the_cpu_features_the_process_sees(portable_runs):
    assert portable_runs["here"]["sha256"] == portable_runs["other_cpu"]["sha256"]


def test_the_child_refuses_to_train_off_the_portable_path(tmp_path, capsys):
    """Started without the portable environment (this process), the child's entry point stops."""
    if T.on_portable_path():
        pytest.skip("this process is on the portable kernel path")
    assert T.main(["--out", str(tmp_path / "e"), "--setup", str(tmp_path / "s"), "--summary", str(tmp_path / "j")]) == 2
    assert "not on the portable kernel path" in capsys.readouterr().err and not (tmp_path / "e").exists()
    assert torch.backends.mkldnn.enabled  # switched off for the check only


def test_the_child_checks_which_kernels_numpy_runs(tmp_path):
    """The portable environment with another OpenBLAS core type: the child sees NumPy's kernels (threadpoolctl)
    and refuses, not only the variable's name."""
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, **T.PORTABLE_ENV, "OPENBLAS_CORETYPE": "Prescott"}
    cmd = [sys.executable, "-m", T.__name__, "--out", str(tmp_path / "e"), "--setup", str(tmp_path / "s"),
           "--summary", str(tmp_path / "j")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "not on the portable kernel path" in done.stderr
    blas = re.search(r"'blas': 'openblas \S+ (\w+)'", done.stderr)  # the core type OpenBLAS reports (Katmai)
    assert blas and blas.group(1) != "Haswell"


def test_portable_training_computes_its_products_in_numpy_and_gives_the_layers_back(monkeypatch, streams):
    from benchmark.metrics.extractors import portable_blas

    calls = []
    real = portable_blas.matmul
    monkeypatch.setattr(portable_blas, "matmul", lambda a, b: calls.append(a.shape) or real(a, b))
    setup = T.TrainSetup(steps=1, batch_size=3, calibration_steps=1, warmup_steps=1)
    net, _ = T.train_evaluator(setup, progress=False, streams=streams, numpy_blas=True)
    # per step: 4 convs + 1 + 7 heads linear layers, forward and two gradients (none for the input of the
    # first conv); then the calibration's forward
    n_layers = 4 + 1 + len(T.FACTORS)
    assert len(calls) == 3 * n_layers - 1 + n_layers
    assert {type(m) for m in net.modules()} >= {torch.nn.Conv3d, torch.nn.Linear}
    assert not any(type(m).__name__.startswith("Portable") for m in net.modules())
