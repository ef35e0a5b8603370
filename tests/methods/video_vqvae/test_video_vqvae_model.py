"""Video VQ-VAE's networks: sizes derived from the paper's appendix tables (Walker et al. 2021,
Tables 3-8), latent shapes at 256x256x16, the causal PixelCNN's cache and causality, the EMA codebook."""

from __future__ import annotations

import pytest
import torch

from methods.common.pixelcnn import CausalPixelCNN, causal_mask
from methods.common.vq import VectorQuantizerEMA
from methods.video_vqvae.config import VideoVQVAEConfig
from methods.video_vqvae.method import build_bottom_prior, build_top_prior, build_vqvae
from methods.video_vqvae.model import tf_same_pad


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------ sizes from the tables ---

def conv(cin, cout, *kernel, bias=True):
    k = 1
    for v in kernel:
        k *= v
    return cin * cout * k + (cout if bias else 0)


def residual_stack(hidden, residual, layers, taps):
    return layers * (conv(hidden, residual, taps) + conv(residual, hidden, 1))


def vqvae_count(c=3, hidden=128, res=32, layers=2, K=512, D=64):
    """Table 3: hidden 128, residual units 32, 2 residual layers, 4x8x8/2x4x4 first stage, 4x4x4/2x2x2
    second stage and upsampling 4x8x8/2x4x4; codebooks are EMA buffers, not parameters."""
    rs = residual_stack(hidden, res, layers, 27)
    enc_b = conv(c, hidden, 4, 8, 8) + conv(hidden, hidden, 27) + rs
    enc_t = conv(hidden, hidden, 4, 4, 4) + conv(hidden, hidden, 27) + rs + conv(hidden, D, 1)
    dec_t = conv(D, hidden, 27) + rs + conv(hidden, D, 4, 4, 4)
    pre_b = conv(hidden + D, D, 1)
    up_t = conv(D, D, 4, 4, 4)
    dec = conv(2 * D, hidden, 27) + rs + conv(hidden, c, 4, 8, 8)
    return enc_b + enc_t + dec_t + pre_b + up_t + dec


def pixelcnn_count(K, hidden, R, layers, k, kt, attention, cond):
    """Our gated layer: y-t conv (kt x k x 1, bias) + x-t conv (kt x 1 x k) for V, x-t conv (bias) for
    H, hidden -> 2R each; 1x1 link 2R -> 2R; 1x1 outputs R -> hidden; 1x1 conditioning cond -> 2R for
    both streams. First layer: two kt x k x k convs; attention: LayerNorm, qkv (with 3 coordinate
    channels), projection; head: two 1x1 convs."""
    first = 2 * conv(hidden, hidden, kt, k, k)
    layer = (conv(hidden, 2 * R, kt, k) + conv(hidden, 2 * R, kt, k, bias=False) + conv(hidden, 2 * R, kt, k)
             + conv(2 * R, 2 * R, 1, bias=False) + 2 * conv(R, hidden, 1) + 2 * conv(cond, 2 * R, 1, bias=False))
    att = 2 * hidden + conv(hidden + 3, 3 * hidden, 1) + conv(hidden, hidden, 1)
    head = conv(hidden, hidden, 1) + conv(hidden, K, 1)
    return K * hidden + first + layers * layer + attention * att + head


def top_cond_count(K=512, E=64, mid=256, hidden=512, res=128, layers=4, ctx_steps=1):
    """Tables 5/6: top context upsampled (transposed 4x4x4 conv), concatenated with the bottom
    context, down to 32x32x256, tiled, lifted to 512, four residual blocks (128 residual units)."""
    return (2 * K * E + conv(E, E, 4, 4, 4) + conv(2 * E, mid, 4, 4, 4) + conv(mid * ctx_steps, hidden, 27)
            + residual_stack(hidden, res, layers, 27))


def bottom_cond_count(K=512, E=64, hidden=1024, res=256, blocks=20, past_layers=4):
    """Tables 7/8: top upsampled by (4,3,3)/(2,1,1) -> (3,4,4)/(1,2,2) -> (3,3,3) to 1024 channels;
    past bottom slices through 4 convs (4,3,3) stride (2,1,1); 3x3 merge; 20 residual blocks."""
    top = conv(E, hidden, 4, 3, 3) + conv(hidden, hidden, 3, 4, 4) + conv(hidden, hidden, 3, 3, 3)
    past = conv(E, hidden, 4, 3, 3) + (past_layers - 1) * conv(hidden, hidden, 4, 3, 3)
    return 2 * K * E + top + past + conv(2 * hidden, hidden, 3, 3) + residual_stack(hidden, res, blocks, 9)


@pytest.fixture(scope="module")
def paper_models():
    cfg = VideoVQVAEConfig()
    with torch.device("meta"):  # sizes only
        return cfg, build_vqvae(cfg), build_top_prior(cfg), build_bottom_prior(cfg)


def test_paper_sizes_follow_the_tables(paper_models):
    cfg, vqvae, top, bottom = paper_models
    assert n_params(vqvae) == vqvae_count() == 4_520_195
    # Table 4 top prior: hidden 512, residual units 1024, 40 layers, 8 attention layers, filter 3
    # (also 3 causal taps in time), conditioned on Table 5's 512-channel stack.
    assert len(top.pixelcnn.layers) == 40 and len(top.pixelcnn.attention) == 8
    assert n_params(top.pixelcnn) == pixelcnn_count(512, 512, 1024, 40, 3, 3, 8, 512)
    assert n_params(top.condition) == top_cond_count()
    # Table 4 bottom prior: hidden 512, residual units 1024, 20 layers, 4 attention layers, filter 5,
    # 2D (one time step), conditioned on Table 7's 1024-channel stack.
    assert len(bottom.pixelcnn.layers) == 20 and len(bottom.pixelcnn.attention) == 4
    assert n_params(bottom.pixelcnn) == pixelcnn_count(512, 512, 1024, 20, 5, 1, 4, 1024)
    assert n_params(bottom.condition) == bottom_cond_count()
    assert (n_params(top), n_params(bottom)) == (1_462_969_664, 789_550_080)


def test_paper_latent_grids_and_prior_inputs(paper_models):
    cfg, vqvae, top, bottom = paper_models
    assert cfg.top_grid() == (4, 32, 32) and cfg.bottom_grid() == (8, 64, 64)   # §3.1
    assert cfg.context_steps() == (1, 2)                  # 4 frames -> 32x32x1 and 64x64x2 (Table 6)
    assert top.pixelcnn.shape == (3, 32, 32)              # Table 4: top prior input 32x32x3
    assert bottom.pixelcnn.shape == (1, 64, 64)           # Table 4: bottom prior input 64x64
    vqvae.eval()
    with torch.device("meta"):
        x = torch.empty(1, 3, 16, 256, 256)
        enc = vqvae.encode(x)
        assert tuple(enc["codes_top"].shape) == (1, 4, 32, 32)
        assert tuple(enc["codes_bottom"].shape) == (1, 8, 64, 64)
        assert tuple(vqvae.decode(enc["q_top"], enc["q_bottom"]).shape) == (1, 3, 16, 256, 256)
        ctx = vqvae.encode(torch.empty(1, 3, 4, 256, 256))
        assert tuple(ctx["codes_top"].shape) == (1, 1, 32, 32) and tuple(ctx["codes_bottom"].shape) == (1, 2, 64, 64)
        cond = top.condition(ctx["codes_top"], ctx["codes_bottom"])
        assert tuple(cond.shape) == (1, 512, 3, 32, 32)    # Table 6: 32x32x3x512
        feat = bottom.condition.top_features(enc["codes_top"])
        assert tuple(feat.shape) == (1, 1024, 8, 64, 64)   # Table 8: 64x64x8x1024
        past = bottom.condition.past_window(enc["codes_bottom"], 5)
        assert tuple(past.shape) == (1, 64, 4, 64, 64)     # n-4 .. n-1
        assert tuple(bottom.condition(feat, past, 5).shape) == (1, 1024, 64, 64)


def test_tf_same_padding_takes_four_past_slices_to_one():
    sizes, t = [], 4
    for _ in range(4):
        left, right = tf_same_pad(t, 4, 2)
        t = (t + left + right - 4) // 2 + 1
        sizes.append(t)
    assert sizes == [2, 1, 1, 1]


# --------------------------------------------------------------------- the causal PixelCNN ---

def small_pixelcnn(shape=(3, 4, 5), time_kernel=2, cond=3, attention_every=2, seed=0):
    torch.manual_seed(seed)
    return CausalPixelCNN(7, shape, hidden=8, residual_units=6, layers=4, kernel=3, time_kernel=time_kernel,
                          attention_every=attention_every, heads=2, cond_channels=cond).eval()


def test_masks_hide_the_present_and_future():
    m = causal_mask((3, 3, 3), "v_first")
    assert m[:2].all() and m[2, 0].all() and not m[2, 1:].any()
    m = causal_mask((2, 1, 5), "h_xt")
    assert m[0].all() and m[1, 0, :3].all() and not m[1, 0, 3:].any()


@pytest.mark.parametrize("shape,time_kernel,attention", [((3, 4, 5), 2, 2), ((1, 5, 4), 1, 2), ((2, 3, 3), 3, 0)])
def test_logits_depend_only_on_earlier_positions(shape, time_kernel, attention):
    net = small_pixelcnn(shape, time_kernel, cond=0, attention_every=attention)
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 7, (1,) + shape, generator=g)
    base = net(codes)
    T, H, W = shape
    for flat in [0, 3, T * H * W // 2, T * H * W - 1]:
        changed = codes.clone().view(-1)
        changed[flat:] = torch.randint(0, 7, changed[flat:].shape, generator=g)
        changed[flat] = (codes.view(-1)[flat] + 1) % 7
        out = net(changed.view(codes.shape))
        # positions <= flat see only codes < flat (unchanged): identical logits
        assert torch.allclose(base.flatten(2)[:, :, :flat + 1], out.flatten(2)[:, :, :flat + 1], atol=1e-6)
        if flat + 1 < T * H * W:  # and the next position does see the change
            assert not torch.allclose(base.flatten(2)[:, :, flat + 1], out.flatten(2)[:, :, flat + 1])


def test_cached_logits_equal_the_full_forward():
    net = small_pixelcnn()
    codes = torch.randint(0, 7, (2, 3, 4, 5))
    cond = torch.randn(2, 3, 3, 4, 5)
    full = net(codes, cond)
    worst = []
    net.sample(2, cond, teacher=codes,
               on_logits=lambda lg, pos: worst.append(float((lg - full[:, :, pos[0], pos[1], pos[2]]).abs().max())))
    assert len(worst) == 60 and max(worst) < 1e-5


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_cached_sampling_equals_uncached_sampling(temperature):
    net = small_pixelcnn()
    cond = torch.randn(3, 3, 3, 4, 5)
    cached = net.sample(3, cond, generator=torch.Generator().manual_seed(5), temperature=temperature)
    uncached = net.sample_uncached(3, cond, generator=torch.Generator().manual_seed(5), temperature=temperature)
    assert torch.equal(cached, uncached)
    other = net.sample(3, cond, generator=torch.Generator().manual_seed(6), temperature=temperature)
    assert not torch.equal(cached, other)


def test_log_prob_is_the_sum_of_per_position_log_softmax():
    net = small_pixelcnn(cond=0)
    codes = torch.randint(0, 7, (2, 3, 4, 5))
    logits = net(codes)
    manual = torch.log_softmax(logits, 1).gather(1, codes[:, None]).sum((1, 2, 3, 4))
    assert torch.allclose(net.log_prob(codes), manual)


# ------------------------------------------------------------------------------ EMA codebook ---

def test_ema_codebook_follows_equation_3():
    vq = VectorQuantizerEMA(2, 2, decay=0.5, eps=0.0)
    with torch.no_grad():
        vq.embedding.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
        vq.embed_sum.copy_(vq.embedding)
    z = torch.tensor([[1.0, 1.0], [3.0, 1.0], [9.0, 9.0]]).T.reshape(1, 2, 3)  # (N, D, grid)
    vq.train()
    q, codes, _ = vq(z)
    assert codes.tolist() == [[0, 0, 1]]
    # N_i = 0.5 * 1 + 0.5 * n_i ; m_i = 0.5 * e_i + 0.5 * sum ; e_i = m_i / N_i (eps = 0: no smoothing)
    n = torch.tensor([0.5 + 0.5 * 2, 0.5 + 0.5 * 1])
    m = torch.tensor([[0.5 * 4, 0.5 * 2], [5 + 0.5 * 9, 5 + 0.5 * 9]])
    assert torch.allclose(vq.embedding, m / n[:, None])
    # straight-through: the forward value is the (old) code vector, the gradient is the identity
    assert torch.allclose(q[0, :, 2], torch.tensor([10.0, 10.0]))


def test_unused_codes_keep_their_vectors():
    vq = VectorQuantizerEMA(3, 2, decay=0.9)
    before = vq.embedding.clone()
    vq.train()
    far = before[0:1].T.reshape(1, 2, 1).repeat(1, 1, 4)  # every vector at code 0
    for _ in range(20):
        vq(far)
    assert torch.allclose(vq.embedding[1:], before[1:], rtol=1e-3, atol=1e-4)
