"""Training-step time of our ``paper`` profile against the official code's, same batch, same CPU.

Ours: the method's training update at the paper's batch and clip length (SVG: the teacher-forced
pass through all five networks + Adam, as ``fit``'s step; DRNet stage 1: the scene-discriminator
update then the encoders/decoder update). Theirs, with ``--official-dir``: the official model
classes imported from a local checkout (``edenton/svg`` or ``edenton/drnet-py``; nothing of it is in
this repository), given the same weights (mapped by ``methods.{svg,drnet}.official``), driven by the
per-step procedure of the official training scripts (``train_svg_lp.py`` / ``train_svg_fp.py`` /
``train_drnet.py`` ``train()``, p2pvg's ``P2PModel.forward``: one encoder call per frame and time
step, LSTM cells stepped one time step at a time), on the same batch. Steps are interleaved (ours, theirs, ours, ...) so that
machine load hits both alike; the median wall time per step and the ratio ours / theirs are printed.

    python benchmarks/official_step_parity.py svg_lp/mmnist --threads 2 --steps 3
    git clone https://github.com/edenton/svg /tmp/svg        # the official code (not vendored)
    python benchmarks/official_step_parity.py svg_lp/mmnist --official-dir /tmp/svg --threads 2
    python benchmarks/official_step_parity.py drnet/kth128 --official-dir /tmp/drnet-py --threads 2
    python benchmarks/official_step_parity.py p2p/mmnist --official-dir /tmp/p2pvg --threads 1 --batch 16

P2P: upstream's ``P2PModel.forward`` steps four optimisers between its two backward passes (the
second, ``kld + w_cpc * cpc`` for the prior, runs through the graph whose parameters the steps
have just changed in place), which PyTorch >= 1.5 refuses. Their step here is that forward
restated with the same work: the first backward's gradients of the four networks are recorded,
the prior's backward runs, the recorded gradients are put back and all five optimisers step. Its
frame-skip draws are the same ``kept`` steps as ours (upstream draws them inside ``forward``).

The official modules only need their ``models/`` package (their ``utils.py`` / training scripts,
which import data loaders and call ``.cuda()``, are not imported): the LSTM hidden states are set
here on the CPU instead of through their ``init_hidden`` (which calls ``.cuda()``).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import importlib
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.data.kth import KTH
from benchmark.data.mmnist import MovingMNIST
from benchmark.pipeline import data_spec
from methods.common.lstm import init_svg_
from methods.common.state_mapping import map_state_by_order
from methods.drnet import config as drnet_config
from methods.drnet.model import DRNet
from methods.drnet.official import load_official_state as load_drnet_state
from methods.p2p import config as p2p_config
from methods.p2p.model import P2PModel, backward_main_and_prior, kept_steps
from methods.svg import config as svg_config
from methods.svg.model import SVGModel
from methods.svg.official import load_official_state as load_svg_state

DATASETS = {"mmnist": lambda: MovingMNIST(motion="stochastic"), "kth": lambda: KTH(), "kth128": lambda: KTH(size=128),
            "mmnist-two-ended": lambda: MovingMNIST(motion="stochastic", two_ended=True)}
REPOS = {"svg": "https://github.com/edenton/svg", "drnet": "https://github.com/edenton/drnet-py",
         "p2p": "https://github.com/yccyenchicheng/p2pvg"}
Step = Callable[[], float]


def _spec(name: str):
    return data_spec(DATASETS[name](), ("prediction",))


def _official(official_dir: Path, module: str):
    """``models.<module>`` of the official checkout (imported from there, never copied here)."""
    if not (official_dir / "models" / f"{module.split('.')[-1]}.py").is_file():
        raise SystemExit(f"--official-dir {official_dir}: no models/{module.split('.')[-1]}.py there; pass the root "
                         f"of a checkout of the official repository")
    if str(official_dir) not in sys.path:
        sys.path.insert(0, str(official_dir))
    return importlib.import_module(f"models.{module}")


def _zeros_hidden(lstm, batch: int) -> list:
    """The official LSTMs' ``init_hidden`` without its ``.cuda()``: zero (h, c) per layer."""
    return [(torch.zeros(batch, lstm.hidden_size), torch.zeros(batch, lstm.hidden_size)) for _ in range(lstm.n_layers)]


# --------------------------------------------------------------------------------------- SVG ---
def svg_steps(prior: str, dataset: str, batch: int | None, official_dir: Path | None) -> tuple[Step, Step | None, str]:
    cfg = svg_config.paper_profile(prior)(_spec(dataset))
    b = batch or cfg.train.batch_size
    t = cfg.context_frames + cfg.future_frames
    x = torch.rand(b, t, cfg.channels, *cfg.resolution, generator=torch.Generator().manual_seed(0))
    ours = init_svg_(SVGModel(cfg)).train()
    adam = lambda ps: torch.optim.Adam(ps, lr=cfg.lr, betas=(cfg.beta1, 0.999))  # noqa: E731
    opt = adam(ours.parameters())

    def our_step() -> float:
        opt.zero_grad(set_to_none=True)
        loss, _ = ours.loss(ours(x))
        loss.backward()
        opt.step()
        return loss.item()

    what = f"{'SVG-LP' if prior == 'learned' else 'SVG-FP'} {cfg.backbone}-{cfg.resolution[0]}, {t} frames, batch {b}"
    if official_dir is None:
        return our_step, None, what
    lstm_mod = _official(official_dir, "lstm")
    codec = _official(official_dir, f"{cfg.backbone}_{cfg.resolution[0]}")
    nets = {"encoder": codec.encoder(cfg.g_dim, cfg.channels), "decoder": codec.decoder(cfg.g_dim, cfg.channels)}
    # Their LSTM constructors call init_hidden (.cuda()); build them with it bypassed.
    saved = lstm_mod.lstm.init_hidden, lstm_mod.gaussian_lstm.init_hidden
    lstm_mod.lstm.init_hidden = lstm_mod.gaussian_lstm.init_hidden = lambda self: None
    try:
        nets["frame_predictor"] = lstm_mod.lstm(cfg.g_dim + cfg.z_dim, cfg.g_dim, cfg.rnn_size, cfg.predictor_layers, b)
        nets["posterior"] = lstm_mod.gaussian_lstm(cfg.g_dim, cfg.z_dim, cfg.rnn_size, cfg.posterior_layers, b)
        if prior == "learned":
            nets["prior"] = lstm_mod.gaussian_lstm(cfg.g_dim, cfg.z_dim, cfg.rnn_size, cfg.prior_layers, b)
    finally:
        lstm_mod.lstm.init_hidden, lstm_mod.gaussian_lstm.init_hidden = saved
    for net in nets.values():
        init_svg_(net).train()
    # The same weights on both sides.
    load_svg_state(ours, {k: (f"models.{cfg.backbone}_{cfg.resolution[0]}.{k}", v.state_dict()) for k, v in nets.items()})
    opts = [adam(n.parameters()) for n in nets.values()]   # one Adam per network, as upstream
    enc, dec, pred, post = nets["encoder"], nets["decoder"], nets["frame_predictor"], nets["posterior"]
    frames = list(x.unbind(1))
    c = cfg.context_frames

    def kl(mu1, logvar1, mu2, logvar2):
        return (0.5 * (logvar2 - logvar1) + (logvar1.exp() + (mu1 - mu2) ** 2) / (2 * logvar2.exp()) - 0.5).sum() / b

    def their_step() -> float:
        # train_svg_lp.py / train_svg_fp.py train(): per time step, LP encodes x[i-1] and x[i]
        # (every frame twice), FP encodes each frame once up front; the skips stay those of the
        # last encoder input with i < n_past.
        for n in nets.values():
            n.zero_grad()
        for n in nets.values():
            if hasattr(n, "hidden_size"):
                n.hidden = _zeros_hidden(n, b)
        seq = None if prior == "learned" else [enc(f) for f in frames]
        mse = kld = 0
        skip = None
        for i in range(1, t):
            h_prev, h_target = (enc(frames[i - 1]), enc(frames[i])[0]) if seq is None else (seq[i - 1], seq[i][0])
            if i < c:
                h, skip = h_prev
            else:
                h = h_prev[0]
            z_t, mu, logvar = post(h_target)
            if prior == "learned":
                _, mu_p, logvar_p = nets["prior"](h)
            else:
                mu_p = logvar_p = torch.zeros_like(mu)
            x_pred = dec([pred(torch.cat([h, z_t], 1)), skip])
            mse = mse + F.mse_loss(x_pred, frames[i])
            kld = kld + kl(mu, logvar, mu_p, logvar_p)
        loss = mse + cfg.beta * kld
        loss.backward()
        for o in opts:
            o.step()
        return loss.item()

    return our_step, their_step, what


# ------------------------------------------------------------------------------------- DRNet ---
def drnet_steps(dataset: str, batch: int | None, official_dir: Path | None) -> tuple[Step, Step | None, str]:
    cfg = drnet_config.paper(_spec(dataset))
    b = batch or cfg.train.batch_size
    res, nc = tuple(cfg.resolution), cfg.net_channels
    gen = torch.Generator().manual_seed(0)
    xs = [torch.rand(b, nc, *res, generator=gen) for _ in range(4)]
    perm = torch.randperm(b // 2, generator=gen)
    ours = init_svg_(DRNet(cfg)).train()
    adam = lambda ps: torch.optim.Adam(ps, lr=cfg.lr, betas=(cfg.beta1, 0.999))  # noqa: E731
    opt_c = adam(ours.scene_discriminator.parameters())
    opt_m = adam([*ours.content_encoder.parameters(), *ours.pose_encoder.parameters(), *ours.decoder.parameters()])

    def our_step() -> float:
        opt_c.zero_grad(set_to_none=True)
        ours.discriminator_loss(xs[0], xs[1], perm)[0].backward()
        opt_c.step()
        opt_m.zero_grad(set_to_none=True)
        loss = ours.disentangle_losses(*xs)[0]
        loss.backward()
        opt_m.step()
        return loss.item()

    what = f"DRNet stage 1 {cfg.content_model}+{cfg.pose_model}-{res[0]}, {nc} channels, batch {b}"
    if official_dir is None:
        return our_step, None, what
    if cfg.content_model != "dcgan_unet" or cfg.pose_model != "dcgan":
        raise SystemExit("drnet: only the default dcgan_unet content / dcgan pose networks are wired here")
    content = _official(official_dir, f"dcgan_unet_{res[0]}")
    pose = _official(official_dir, f"dcgan_{res[0]}")
    classifiers = _official(official_dir, "classifiers")
    nets = {"netEC": content.content_encoder(cfg.content_dim, nc), "netEP": pose.pose_encoder(cfg.pose_dim, nc),
            "netD": content.decoder(cfg.content_dim, cfg.pose_dim, nc),
            "netC": classifiers.scene_discriminator(cfg.pose_dim, cfg.sd_width)}
    for net in nets.values():
        init_svg_(net).train()
    cls = {"netEC": f"models.dcgan_unet_{res[0]}.content_encoder", "netEP": f"models.dcgan_{res[0]}.pose_encoder",
           "netD": f"models.dcgan_unet_{res[0]}.decoder", "netC": "models.classifiers.scene_discriminator"}
    load_drnet_state(ours, {k: (cls[k], v.state_dict()) for k, v in nets.items()})
    ec, ep, dec, sd = nets["netEC"], nets["netEP"], nets["netD"], nets["netC"]
    o_c, o_ec, o_ep, o_d = (adam(n.parameters()) for n in (sd, ec, ep, dec))
    half = b // 2

    def their_step() -> float:
        # train_drnet.py: train_scene_discriminator(x) then train(x), one Adam per network.
        sd.zero_grad()
        h1, h2 = ep(xs[0]).detach(), ep(xs[1]).detach()
        h2[:half] = h2[perm]
        target = torch.zeros(b, 1)
        target[:half] = 1
        F.binary_cross_entropy(sd([h1, h2]), target).backward()
        o_c.step()
        for n in (ep, ec, dec):
            n.zero_grad()
        h_c1 = ec(xs[0])
        h_c2 = ec(xs[1])[0].detach()
        h_p1, h_p2 = ep(xs[2]), ep(xs[3]).detach()
        out = sd([h_p1, h_p2])
        loss = (F.mse_loss(h_c1[0], h_c2) + F.mse_loss(dec([h_c1, h_p1]), xs[2])
                + cfg.sd_weight * F.binary_cross_entropy(out, torch.full_like(out, 0.5)))
        loss.backward()
        for o in (o_ec, o_ep, o_d):
            o.step()
        return loss.item()

    return our_step, their_step, what


# --------------------------------------------------------------------------------------- P2P ---
def p2p_steps(batch: int | None, official_dir: Path | None) -> tuple[Step, Step | None, str]:
    """P2P on SM-MNIST (upstream README's command: dcgan-64, |z| 10, clips of 30, w_cpc 100,
    w_align 0.5, skip_prob 0.5), one full-length clip with the same kept steps on both sides."""
    cfg = p2p_config.paper(_spec("mmnist-two-ended"))
    b = batch or cfg.train.batch_size
    t, cp = cfg.max_seq_len, cfg.max_seq_len - 1
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(b, t, cfg.channels, *cfg.resolution, generator=gen)
    kept = kept_steps(t, cfg.context_frames, cfg.skip_prob, torch.rand(t - 1, generator=gen))
    ours = init_svg_(P2PModel(cfg)).train()
    adam = lambda ps: torch.optim.Adam(ps, lr=cfg.lr, betas=(cfg.beta1, 0.999))  # noqa: E731
    prior_params = list(ours.prior.parameters())
    opt_m = adam([p for n, p in ours.named_parameters() if not n.startswith("prior.")])
    opt_p = adam(prior_params)

    def our_step() -> float:
        # methods/p2p/method.py's step (backward_main_and_prior: the prior on its own loss, the rest on main)
        opt_m.zero_grad(set_to_none=True)
        opt_p.zero_grad(set_to_none=True)
        main, prior_loss = ours.losses(ours(x, kept))
        backward_main_and_prior(main, prior_loss, prior_params)
        opt_m.step()
        opt_p.step()
        return main.item()

    what = (f"P2P {cfg.backbone}-{cfg.resolution[0]}, {t} frames ({len(kept)} steps kept), batch {b}")
    if official_dir is None:
        return our_step, None, what
    lstm_mod = _official(official_dir, "lstm")
    codec = _official(official_dir, f"{cfg.backbone}_{cfg.resolution[0]}")
    g_dim, z_dim, rnn = cfg.g_dim, cfg.z_dim, cfg.rnn_size
    nets = {"encoder": codec.encoder(g_dim, cfg.channels), "decoder": codec.decoder(g_dim, cfg.channels)}
    saved = lstm_mod.gaussian_lstm.init_hidden  # called by its constructor, with .cuda()
    lstm_mod.gaussian_lstm.init_hidden = lambda self, batch_size=1: None
    try:  # P2PModel.__init__: time counter (+2) on every LSTM input, the global descriptor on the Gaussian ones
        nets["frame_predictor"] = lstm_mod.lstm(g_dim + z_dim + 2, g_dim, rnn, cfg.predictor_layers, b)
        nets["posterior"] = lstm_mod.gaussian_lstm(2 * g_dim + 2, z_dim, rnn, cfg.posterior_layers, b)
        nets["prior"] = lstm_mod.gaussian_lstm(2 * g_dim + 2, z_dim, rnn, cfg.prior_layers, b)
    finally:
        lstm_mod.gaussian_lstm.init_hidden = saved
    for net in nets.values():
        init_svg_(net).train()
    for name, net in ours.networks().items():  # the same weights on both sides
        net.load_state_dict(map_state_by_order(net, nets[name].state_dict(), name))
    opts = {k: adam(n.parameters()) for k, n in nets.items()}  # one Adam per network, as upstream
    enc, dec, pred, post, prior = (nets[k] for k in ("encoder", "decoder", "frame_predictor", "posterior", "prior"))
    frames, kept_set = list(x.unbind(1)), set(kept)

    def kl(mu1, logvar1, mu2, logvar2):  # misc/criterion.py KLCriterion
        sigma1, sigma2 = logvar1.mul(0.5).exp(), logvar2.mul(0.5).exp()
        return (torch.log(sigma2 / sigma1) + (logvar1.exp() + (mu1 - mu2) ** 2) / (2 * logvar2.exp()) - 0.5).sum() / b

    def their_step() -> float:
        # train.py train(): model.zero_grad(); P2PModel.forward (restated: see the module docstring).
        for n in nets.values():
            n.zero_grad()
        for n in (pred, post, prior):
            n.hidden = _zeros_hidden(n, b)
        mse = kld = cpc = align = 0
        global_z = enc(frames[cp])[0]
        prev_i, h, h_pred, skip = 0, None, None, None
        for i in range(1, t):
            if i not in kept_set:
                continue
            if i > 1:  # upstream's MSELoss(h[0], h_pred): sample 0's encoding broadcast (warns)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    align = align + F.mse_loss(h[0], h_pred)
            tuc = torch.zeros(b, 1).fill_((cp - i + 1) / cp)
            dt = torch.zeros(b, 1).fill_((i - prev_i) / cp)
            prev_i = i
            h = enc(frames[i - 1])
            h_target = enc(frames[i])[0]
            if cfg.last_frame_skip or i <= cfg.context_frames:
                h, skip = h
            else:
                h = h[0]
            zt, mu, logvar = post(torch.cat([h_target, global_z, tuc, dt], 1))
            zt_p, mu_p, logvar_p = prior(torch.cat([h, global_z, tuc, dt], 1))
            h_pred = pred(torch.cat([h, zt, tuc, dt], 1))
            x_pred = dec([h_pred, skip])
            if i == cp:
                cpc = F.mse_loss(dec([pred(torch.cat([h, zt_p, tuc, dt], 1)), skip]), frames[cp])
            mse = mse + F.mse_loss(x_pred, frames[i])
            kld = kld + kl(mu, logvar, mu_p, logvar_p)
        loss = mse + kld * cfg.beta + align * cfg.weight_align
        loss.backward(retain_graph=True)
        others = [k for k in nets if k != "prior"]
        recorded = {k: [p.grad.clone() for p in nets[k].parameters()] for k in others}
        prior.zero_grad()
        (kld + cpc * cfg.weight_cpc).backward()
        for k in others:
            for p, g in zip(nets[k].parameters(), recorded[k]):
                p.grad = g
        for k in ("frame_predictor", "posterior", "encoder", "decoder", "prior"):
            opts[k].step()
        return loss.item()

    return our_step, their_step, what


CASES = {
    "svg_lp/mmnist": ("svg", lambda b, d: svg_steps("learned", "mmnist", b, d)),
    "svg_fp/mmnist": ("svg", lambda b, d: svg_steps("fixed", "mmnist", b, d)),
    "svg_lp/kth": ("svg", lambda b, d: svg_steps("learned", "kth", b, d)),
    "drnet/kth": ("drnet", lambda b, d: drnet_steps("kth", b, d)),
    "drnet/kth128": ("drnet", lambda b, d: drnet_steps("kth128", b, d)),
    "p2p/mmnist": ("p2p", lambda b, d: p2p_steps(b, d)),
}


def time_interleaved(steps: list[Step], n: int, warmup: int
                     ) -> tuple[list[list[float]], list[list[float]], list[list[float]], list[float]]:
    """Wall, user-CPU and system-CPU seconds (this process, all threads) of ``n`` calls of each step,
    interleaved (a, b, a, b, ...) after ``warmup`` calls each, and each step's first loss (equal
    weights and batch: equal losses, a check of the set-up). On a shared machine the CPU seconds of
    a one-thread run are the figure to compare; wall time also counts the other jobs' load. System
    time is mostly the kernel zero-filling fresh pages of large tensors (glibc maps every block
    over 32 MB anew, see ``--no-mmap``)."""
    first = [s() for s in steps]
    for _ in range(warmup - 1):
        for s in steps:
            s()
    wall: list[list[float]] = [[] for _ in steps]
    user: list[list[float]] = [[] for _ in steps]
    system: list[list[float]] = [[] for _ in steps]
    for _ in range(n):
        for i, s in enumerate(steps):
            t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
            s()
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            wall[i].append(time.perf_counter() - t0)
            user[i].append(r1.ru_utime - r0.ru_utime)
            system[i].append(r1.ru_stime - r0.ru_stime)
    return wall, user, system, first


def keep_freed_memory() -> None:
    """glibc ``mallopt``: no ``mmap`` for large blocks and no trimming, so a freed tensor's pages are
    reused by the next one instead of being unmapped and zero-filled again by the kernel (the
    effect of a caching allocator; both sides run in this process, so both get it)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    m_mmap_max, m_trim_threshold = -4, -1
    if not (libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, 2 ** 31 - 1)):
        raise SystemExit("--no-mmap: mallopt failed (not glibc?)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("case", choices=sorted(CASES))
    p.add_argument("--official-dir", type=Path, default=None, help="root of a local checkout of the official code")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the paper's)")
    p.add_argument("--steps", type=int, default=3, help="timed steps of each side")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-mmap", action="store_true", help="keep freed memory for reuse (glibc mallopt; see "
                   "keep_freed_memory): removes the page-fault cost of large tensors, as a caching allocator does")
    args = p.parse_args(argv)
    if args.no_mmap:
        keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    repo, build = CASES[args.case]
    ours, theirs, what = build(args.batch, args.official_dir)
    wall, user, system, first = time_interleaved([ours] if theirs is None else [ours, theirs], args.steps,
                                                 max(1, args.warmup))
    med = lambda xs: 1e3 * statistics.median(xs)  # noqa: E731
    every = lambda xs: ", ".join(f"{1e3 * v:.0f}" for v in xs)  # noqa: E731
    cpu = [[u + k for u, k in zip(us, ks)] for us, ks in zip(user, system)]
    print(f"{args.case}: {what}; {args.threads} threads, median of {args.steps} steps after {max(1, args.warmup)} "
          f"warm-up{'; --no-mmap' if args.no_mmap else ''}")
    sides = ["ours", "theirs"][:len(wall)]
    for i, side in enumerate(sides):
        print(f"{side:6} {med(wall[i]):10.1f} ms/step wall (all: {every(wall[i])}); CPU {med(cpu[i]):.1f} ms "
              f"(all: {every(cpu[i])}) = user {med(user[i]):.1f} + system {med(system[i]):.1f}")
    if theirs is None:
        print(f"theirs  (not timed: pass --official-dir PATH to a checkout of {REPOS[repo]})")
        return
    note = "; the posterior noise is drawn independently on each side" if repo in ("svg", "p2p") else ""
    print(f"first-step loss ours {first[0]:.9g} theirs {first[1]:.9g} (same weights and batch{note})")
    print(f"ratio ours/theirs {med(wall[0]) / med(wall[1]):.3f} wall, {med(cpu[0]) / med(cpu[1]):.3f} CPU, "
          f"{med(user[0]) / med(user[1]):.3f} user CPU")


if __name__ == "__main__":
    main()
