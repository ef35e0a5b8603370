"""Importing upstream SVG checkpoints (whole pickled modules, PyTorch 0.4 ``torch.save`` format)
without running their code: the restricted loader, the architecture read from class paths and
shapes, and the weights mapped onto ours."""

from __future__ import annotations

import pytest
import torch

from benchmark.legacy_checkpoint import class_path, load_checkpoint, module_state
from methods.svg import config as C
from methods.svg.model import SVGModel
from methods.svg.official import OfficialCheckpointError, config_from_official, load_official_state
from tests.methods.official_format import save_svg_checkpoint


def _networks(tree):
    return {k: (class_path(v), module_state(v)) for k, v in tree.items() if k != "opt"}


@pytest.mark.parametrize("backbone,channels,z", [("dcgan", 1, 10), pytest.param("vgg", 3, 64, marks=pytest.mark.slow)])
def test_upstream_checkpoint_maps_onto_ours(tmp_path, backbone, channels, z):
    path = tmp_path / "model.pth"
    written = save_svg_checkpoint(path, backbone=backbone, channels=channels, z_dim=z, n_past=2, n_future=10)
    tree = load_checkpoint(path)
    assert class_path(tree["encoder"]) == f"models.{backbone}_64.encoder"
    assert tree["opt"].z_dim == z and class_path(tree["opt"]) == "argparse.Namespace"
    nets = _networks(tree)
    # Upstream's own state-dict names and values survive the restricted unpickling.
    for name, module in written.items():
        ref = module.state_dict()
        assert list(nets[name][1]) == list(ref)
        assert all(torch.equal(nets[name][1][k], ref[k]) for k in ref)
    base = C.SVGConfig()
    cfg = config_from_official(nets, tree["opt"].fields(), "learned", base)
    assert (cfg.backbone, cfg.channels, cfg.z_dim, cfg.g_dim, cfg.context_frames, cfg.future_frames) == (
        backbone, channels, z, 128, 2, 10)
    model = SVGModel(cfg)
    load_official_state(model, nets)
    for name, net in model.networks().items():
        ours = [t for k, t in net.state_dict().items() if not k.endswith("num_batches_tracked")]
        theirs = [t for k, t in nets[name][1].items() if not k.endswith("num_batches_tracked")]
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))


# The 128x128 variants (train_svg_*.py --image_width 128: models.dcgan_128 / models.vgg_128, one more
# stage each; KTH 128 in the paper), small widths so that they run in the default suite.
@pytest.mark.parametrize("backbone", ["dcgan", "vgg"])
def test_upstream_128_checkpoint_maps_onto_ours(tmp_path, backbone):
    path = tmp_path / "model.pth"
    written = save_svg_checkpoint(path, backbone=backbone, channels=1, nf=8, g_dim=16, z_dim=4, rnn_size=32,
                                  n_past=10, n_future=10, image_width=128, learned_prior=False)
    tree = load_checkpoint(path)
    assert class_path(tree["encoder"]) == f"models.{backbone}_128.encoder"
    assert class_path(tree["decoder"]) == f"models.{backbone}_128.decoder"
    nets = _networks(tree)
    # Five stages and the head (c1..c6), the vector stage and five up-stages (upc1..upc6).
    assert {k.split(".")[0] for k in nets["encoder"][1]} == {f"c{i}" for i in range(1, 7)}
    assert {k.split(".")[0] for k in nets["decoder"][1]} == {f"upc{i}" for i in range(1, 7)}
    cfg = config_from_official(nets, tree["opt"].fields(), "fixed", C.SVGConfig())
    assert (cfg.backbone, cfg.resolution, cfg.channels, cfg.width, cfg.g_dim, cfg.z_dim, cfg.rnn_size,
            cfg.context_frames, cfg.prior) == (backbone, (128, 128), 1, 8, 16, 4, 32, 10, "fixed")
    model = SVGModel(cfg)
    load_official_state(model, nets)
    for name, net in model.networks().items():
        ours = [t for k, t in net.state_dict().items() if not k.endswith("num_batches_tracked")]
        theirs = [t for k, t in written[name].state_dict().items() if not k.endswith("num_batches_tracked")]
        assert len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs)), name


def test_a_128_checkpoint_is_not_mapped_onto_64_networks(tmp_path):
    save_svg_checkpoint(tmp_path / "m.pth", nf=8, g_dim=16, z_dim=4, rnn_size=32, image_width=128)
    tree = load_checkpoint(tmp_path / "m.pth")
    nets = _networks(tree)
    with pytest.raises(OfficialCheckpointError, match="image_width=64, the encoder class is models.dcgan_128"):
        config_from_official(nets, {**tree["opt"].fields(), "image_width": 64}, "learned", C.SVGConfig())


def test_lp_checkpoint_is_refused_as_fp_and_vice_versa(tmp_path):
    save_svg_checkpoint(tmp_path / "lp.pth", learned_prior=True)
    save_svg_checkpoint(tmp_path / "fp.pth", learned_prior=False)
    lp, fp = load_checkpoint(tmp_path / "lp.pth"), load_checkpoint(tmp_path / "fp.pth")
    with pytest.raises(OfficialCheckpointError, match="import it as svg_lp"):
        config_from_official(_networks(lp), lp["opt"].fields(), "fixed", C.SVGConfig())
    with pytest.raises(OfficialCheckpointError, match="import it as svg_fp"):
        config_from_official(_networks(fp), fp["opt"].fields(), "learned", C.SVGConfig())
    cfg = config_from_official(_networks(fp), fp["opt"].fields(), "fixed", C.SVGConfig())
    assert cfg.prior == "fixed"


def test_inconsistent_options_are_reported(tmp_path):
    save_svg_checkpoint(tmp_path / "m.pth", extra={"model": "vgg"})  # opt disagrees with the dcgan classes
    tree = load_checkpoint(tmp_path / "m.pth")
    with pytest.raises(OfficialCheckpointError, match="opt says model='vgg'"):
        config_from_official(_networks(tree), tree["opt"].fields(), "learned", C.SVGConfig())
