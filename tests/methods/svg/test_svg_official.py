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
