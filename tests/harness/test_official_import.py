"""``benchmark weights import-official``: official SVG/DRNet checkpoints (files built in upstream's
exact format by ``tests/methods/official_format.py``) become a run folder of profile ``official``
that ``benchmark sample`` / ``benchmark evaluate`` score like a trained run, with the provenance in
stage.json, results.json and the manifest; files that would run code are refused unrun."""

from __future__ import annotations

import os

import pytest
import torch

from benchmark import paths as P
from benchmark.cli import main
from benchmark.official_import import MAPPING_VERSION, NOTE
from benchmark.utils import read_json, sha256_file
from tests.methods.official_format import save_drnet_checkpoints, save_svg_checkpoint

SPLITS = {"train": 4, "val": 2, "test": 2}
SVG_SMALL = dict(channels=3, nf=8, g_dim=16, z_dim=4, rnn_size=32, n_past=5, n_future=10)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """64x64 moving-shapes (the size of upstream's 64x64 networks), 4/2/2 videos."""
    from benchmark.data.moving_shapes import MovingShapes

    root = tmp_path_factory.mktemp("data64")
    MovingShapes(root=root, split_sizes=SPLITS).prepare()
    return root


@pytest.fixture
def cli(data_root, tmp_path):
    """``cli(*argv)``: the CLI on the small data (its split sizes given as a dataset option), out in tmp_path."""

    def run(*argv: str) -> int:
        return main([*argv, "--dataset", "moving-shapes", "-o", "split_sizes={train: 4, val: 2, test: 2}",
                     "--out", str(tmp_path), "--data-root", str(data_root)])

    return run


def test_svg_checkpoint_imports_and_is_scored_like_a_trained_run(cli, data_root, tmp_path, capsys):
    ckpt = tmp_path / "svglp_smmnist.pth"
    written = save_svg_checkpoint(ckpt, **SVG_SMALL)
    assert cli("weights", "import-official", "svg_lp", str(ckpt)) == 2  # trained on SM-MNIST (its opt says)
    assert "trained on 'smmnist'" in capsys.readouterr().err
    assert cli("weights", "import-official", "svg_lp", str(ckpt), "--allow-other-dataset") == 0
    run = P.run_dir(tmp_path, "moving-shapes", "svg_lp", "official", 0)
    rec = read_json(run / "train" / P.STAGE_RECORD)
    assert rec["imported"]["note"] == NOTE and rec["imported"]["mapping_version"] == MAPPING_VERSION
    source = rec["imported"]["sources"][0]
    assert rec["imported"]["trained_on"] == "smmnist"
    assert source["sha256"] == sha256_file(ckpt) and source["entries"]["encoder"] == "models.dcgan_64.encoder"
    assert source["opt"]["z_dim"] == 4 and source["opt"]["optimizer"] == "<torch.optim.adam.Adam>"
    # The explicit name mapping, as applied: every upstream tensor once, onto the same-named role of ours.
    names = rec["imported"]["name_mapping"]
    assert names["encoder"]["c1.main.0.weight"] == "stages.0.layers.0.conv.weight"
    assert names["encoder"]["c5.1.running_var"] == "head.layers.1.running_var"
    assert names["decoder"]["upc5.0.weight"].endswith(".weight") and names["decoder"]["upc1.0.bias"].endswith(".bias")
    assert names["frame_predictor"]["lstm.1.weight_ih"] == "lstm.weight_ih_l1"
    assert names["prior"]["mu_net.weight"] == "mu_net.weight"
    for net, module in written.items():
        assert set(names[net]) == {k for k in module.state_dict() if not k.endswith("num_batches_tracked")}
    cfg = read_json(run / "train" / P.CONFIG)["config"]
    assert (cfg["width"], cfg["g_dim"], cfg["z_dim"], cfg["rnn_size"], cfg["channels"]) == (8, 16, 4, 32, 3)
    state = torch.load(run / "train" / P.MODEL, weights_only=False)["state"]["model"]
    assert torch.equal(state["encoder.stages.0.layers.0.conv.weight"], written["encoder"].c1.main[0].weight)
    assert torch.equal(state["prior.lstm.bias_hh_l0"], written["prior"].lstm[0].bias_hh)

    assert cli("sample", "svg_lp", "--profile", "official", "--device", "cpu", "--no-progress") == 0
    assert cli("evaluate", "svg_lp", "--profile", "official", "--device", "cpu", "--no-progress",
               "--metrics", "psnr") == 0
    results = read_json(run / P.RESULTS)
    assert results["profile"] == "official" and results["imported"]["sources"][0]["sha256"] == source["sha256"]
    assert "psnr_best" in results["tasks"]["prediction"]["metrics"]
    manifest = read_json(run / P.MANIFEST)
    assert manifest["imported"]["mapping_version"] == MAPPING_VERSION and "train/model.pt" in manifest["artifacts"]
    assert manifest["config"]["profile"] == "official" and manifest["config"]["model"]["z_dim"] == 4
    assert main(["manifest", "verify", str(run), "--data-root", str(data_root)]) == 0  # artifacts + metrics recomputed
    capsys.readouterr()

    # The weights file changed after the import: refused, never silently re-trained or used.
    torch.save({"state": {}}, run / "train" / P.MODEL)
    assert cli("sample", "svg_lp", "--profile", "official", "--device", "cpu", "--no-progress", "--seed", "0") == 2
    assert "changed since the import" in capsys.readouterr().err


def test_profile_official_without_an_import_says_how(cli, tmp_path, capsys):
    assert cli("sample", "svg_fp", "--profile", "official", "--device", "cpu") == 2
    assert "benchmark weights import-official" in capsys.readouterr().err
    # ... and is a profile that does not fit (`benchmark run --profile official` skips such methods).
    from benchmark.methods import ProfileUnavailable
    from benchmark.official_import import imported_config
    from benchmark.registry import METHODS

    with pytest.raises(ProfileUnavailable):
        imported_config(tmp_path / "no-run", METHODS.get("svg_fp"))


def test_drnet_needs_both_official_files(cli, data_root, tmp_path, capsys):
    model, lstm = tmp_path / "model.pth", tmp_path / "lstm.pth"
    up = save_drnet_checkpoints(model, lstm, nc=3, nf=8, content_dim=16, pose_dim=4, rnn_size=32)
    assert cli("weights", "import-official", "drnet", str(model), "--allow-other-dataset") == 2
    assert "train_lstm.py" in capsys.readouterr().err
    assert cli("weights", "import-official", "drnet", str(model), str(lstm), "--allow-other-dataset") == 0
    run = P.run_dir(tmp_path, "moving-shapes", "drnet", "official", 0)
    recs = [read_json(run / "train" / st / P.STAGE_RECORD) for st in ("disentangle", "lstm")]
    assert [r["stage"] for r in recs] == ["disentangle", "lstm"]
    assert [s["file"] for s in recs[1]["imported"]["sources"]] == ["model.pth", "lstm.pth"]
    from benchmark.stages.spec import RunSpec
    from benchmark.stages.train import stage_train

    spec = RunSpec(method="drnet", dataset="moving-shapes", profile="official", out=tmp_path, data_root=data_root,
                   dataset_options={"split_sizes": SPLITS}, progress=False)
    method, rec = stage_train(spec)  # loads the imported weights; trains nothing
    assert rec["stage"] == "lstm" and method.config.content_dim == 16
    assert torch.equal(method.model.lstm.embed.weight, up["lstm"].embed.weight)
    assert torch.equal(method.model.lstm.lstm.weight_hh_l1, up["lstm"].lstm[1].weight_hh)


def test_wrong_kind_of_checkpoint_is_refused_clearly(cli, tmp_path, capsys):
    ckpt = tmp_path / "svgfp.pth"
    save_svg_checkpoint(ckpt, learned_prior=False, **SVG_SMALL)
    assert cli("weights", "import-official", "svg_lp", str(ckpt), "--allow-other-dataset") == 2
    assert "import it as svg_fp" in capsys.readouterr().err
    assert cli("weights", "import-official", "copy_last", str(ckpt)) == 2
    assert "methods that have one: drnet, svg_fp, svg_lp" in capsys.readouterr().err


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_unrun(cli, tmp_path, capsys):
    marker = tmp_path / "ran"
    ckpt = tmp_path / "evil.pth"
    torch.save({"encoder": _Payload(str(marker)), "opt": {}}, ckpt, _use_new_zipfile_serialization=False)
    assert cli("weights", "import-official", "svg_lp", str(ckpt)) == 2
    assert "refusing to load global" in capsys.readouterr().err
    assert not marker.exists()
    assert not P.run_dir(tmp_path, "moving-shapes", "svg_lp", "official", 0).exists()


def test_128_variants_import_through_the_cli(tmp_path, capsys):
    """The 128x128 variants (SVG ``models.vgg_128``; DRNet ``vgg_unet_128`` content with the
    ``resnet_128`` pose encoder) import for 128x128 frames and are refused for 64x64 ones."""
    from benchmark.data.moving_shapes import MovingShapes

    root = tmp_path / "data128"
    MovingShapes(root=root, split_sizes=SPLITS, size=128).prepare()

    def cli128(*argv: str, size: int = 128) -> int:
        return main([*argv, "--dataset", "moving-shapes", "-o", f"split_sizes={SPLITS}", "-o", f"size={size}",
                     "--out", str(tmp_path), "--data-root", str(root), "--allow-other-dataset"])

    svg = tmp_path / "svg128.pth"
    save_svg_checkpoint(svg, backbone="vgg", image_width=128, **SVG_SMALL)
    assert cli128("weights", "import-official", "svg_lp", str(svg)) == 0
    rec = read_json(P.run_dir(tmp_path, "moving-shapes", "svg_lp", "official", 0) / "train" / P.STAGE_RECORD)
    assert rec["imported"]["networks"]["encoder"] == "models.vgg_128.encoder"
    model, lstm = tmp_path / "model.pth", tmp_path / "lstm.pth"
    save_drnet_checkpoints(model, lstm, nc=3, nf=8, content_dim=16, pose_dim=4, rnn_size=32, image_width=128,
                           content_model="vgg_unet", pose_model="resnet")
    assert cli128("weights", "import-official", "drnet", str(model), str(lstm)) == 0
    run = P.run_dir(tmp_path, "moving-shapes", "drnet", "official", 0)
    cfg = read_json(run / "train" / "disentangle" / P.CONFIG)["config"]
    assert (cfg["content_model"], cfg["pose_model"], cfg["resolution"]) == ("vgg_unet", "resnet", [128, 128])
    capsys.readouterr()
    MovingShapes(root=root, split_sizes=SPLITS).prepare()
    assert cli128("weights", "import-official", "drnet", str(model), str(lstm), size=64) == 2
    assert "for 128x128 frames, the data is 64x64" in capsys.readouterr().err
