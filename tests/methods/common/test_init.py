"""methods.common.init: He init's gain follows the slope; only the named layer types change."""

import math

import torch
from torch import nn

from methods.common.init import init_he_


def test_he_init_std_matches_the_kaiming_formula_for_the_slope():
    torch.manual_seed(0)
    for slope in (0.0, 0.2, 1.0):
        conv = init_he_(nn.Conv2d(64, 256, 3), slope).weight
        expected = math.sqrt(2.0 / ((1 + slope ** 2) * 64 * 9))  # fan-in 576
        assert abs(float(conv.std()) / expected - 1) < 0.02, slope


def test_he_init_touches_only_the_named_layers_and_zeroes_their_biases():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(8, 8))
    before = net[1].weight.clone()
    init_he_(net, layers=(nn.Conv2d,))
    assert torch.equal(net[1].weight, before)
    assert bool((net[0].bias == 0).all()) and not bool((net[1].bias == 0).all())
