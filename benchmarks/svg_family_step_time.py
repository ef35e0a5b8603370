"""Training-step time of the SVG family's ``paper`` (or ``cpu``) profiles (svg_lp, svg_fp, drnet, p2p).

One step = the method's full update on one batch of random clips at the paper's clip length and
batch size (``--batch`` overrides it, e.g. when the paper batch does not fit in memory): SVG's
teacher-forced pass + Adam; DRNet's scene-discriminator and disentangling updates (stage 1) and a
pose-LSTM update (stage 2); P2P's two updates. Prints the median wall time and CPU time of
``--steps`` steps after one warm-up step.

The same step of the upstream code (same batch, same CPU) was timed in a scratch checkout, never
committed; the figures are in each method's README.

    python benchmarks/svg_family_step_time.py                       # every case, paper batch
    python benchmarks/svg_family_step_time.py svg_lp/mmnist --steps 5
    python benchmarks/svg_family_step_time.py svg_lp/kth --batch 16 --threads 2
    python benchmarks/svg_family_step_time.py --profile cpu --threads 1   # the main job's profile on moving-shapes

With ``--profile cpu`` the cases run the ``cpu`` profile on moving-shapes and the last column
estimates the training time of the whole profile (its steps x the CPU time per step): single-threaded
CPU time is the figure that survives a loaded machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

from benchmark.data.bair import BAIR
from benchmark.data.kth import KTH
from benchmark.data.mmnist import MovingMNIST
from benchmark.data.moving_shapes import MovingShapes
from benchmark.pipeline import data_spec
from methods.common.lstm import init_svg_
from methods.drnet import config as drnet_config
from methods.drnet.model import DRNet
from methods.p2p import config as p2p_config
from methods.p2p.model import P2PModel, backward_main_and_prior, kept_steps
from methods.svg import config as svg_config
from methods.svg.model import SVGModel

DATASETS = {"mmnist": lambda two: MovingMNIST(motion="stochastic", two_ended=two), "kth": lambda two: KTH(two_ended=two),
            "kth128": lambda two: KTH(size=128, two_ended=two), "bair": lambda two: BAIR(two_ended=two),
            "moving-shapes": lambda two: MovingShapes(two_ended=two)}
PROFILE = "paper"  # --profile


def _spec(name: str, two_ended: bool = False):
    return data_spec(DATASETS[name](two_ended), ("prediction",))


def svg_case(prior: str, dataset: str, batch: int | None) -> Callable[[], None]:
    cfg = (svg_config.paper_profile if PROFILE == "paper" else svg_config.cpu_profile)(prior)(_spec(dataset))
    model = init_svg_(SVGModel(cfg)).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    b = batch or cfg.train.batch_size
    x = torch.rand(b, cfg.context_frames + cfg.future_frames, cfg.channels, *cfg.resolution)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss, _ = model.loss(model(x))
        loss.backward()
        opt.step()
    return step


def drnet_case(dataset: str, batch: int | None, stage: str) -> Callable[[], None]:
    cfg = getattr(drnet_config, PROFILE)(_spec(dataset))
    model = init_svg_(DRNet(cfg)).train()
    res, c = tuple(cfg.model_resolution or cfg.resolution), cfg.net_channels   # stage 1 frames: as adapt() gives them
    if stage == "disentangle":
        b = batch or cfg.train.batch_size
        x = [torch.rand(b, c, *res) for _ in range(4)]
        adam = lambda ps: torch.optim.Adam(ps, lr=cfg.lr, betas=(cfg.beta1, 0.999))  # noqa: E731
        opt_c = adam(model.scene_discriminator.parameters())
        opt_m = adam([*model.content_encoder.parameters(), *model.pose_encoder.parameters(), *model.decoder.parameters()])

        def step() -> None:
            opt_c.zero_grad(set_to_none=True)
            model.discriminator_loss(x[0], x[1], torch.randperm(b // 2))[0].backward()
            opt_c.step()
            opt_m.zero_grad(set_to_none=True)
            model.disentangle_losses(*x)[0].backward()
            opt_m.step()
        return step
    b = batch or cfg.lstm_train.batch_size
    model.eval()
    model.lstm.train()
    x = torch.rand(b, cfg.context_frames + cfg.future_frames, cfg.channels, *cfg.resolution)
    opt = torch.optim.Adam(model.lstm.parameters(), lr=cfg.lstm_lr, betas=(cfg.lstm_beta1, 0.999))

    def lstm_step() -> None:
        opt.zero_grad(set_to_none=True)
        model.lstm_loss(x, cfg.context_frames)[0].backward()
        opt.step()
    return lstm_step


def p2p_case(dataset: str, batch: int | None) -> Callable[[], None]:
    cfg = getattr(p2p_config, PROFILE)(_spec(dataset, two_ended=True))
    model = init_svg_(P2PModel(cfg)).train()
    b = batch or cfg.train.batch_size
    x = torch.rand(b, cfg.max_seq_len, cfg.channels, *cfg.resolution)
    prior = list(model.prior.parameters())
    opt_m = torch.optim.Adam([p for n, p in model.named_parameters() if not n.startswith("prior.")], lr=cfg.lr)
    opt_p = torch.optim.Adam(prior, lr=cfg.lr)
    kept = kept_steps(cfg.max_seq_len, cfg.context_frames, cfg.skip_prob,
                      torch.rand(cfg.max_seq_len - 1, generator=torch.Generator().manual_seed(0)))

    def step() -> None:
        opt_m.zero_grad(set_to_none=True)
        opt_p.zero_grad(set_to_none=True)
        main, prior_loss = model.losses(model(x, kept))
        backward_main_and_prior(main, prior_loss, prior)
        opt_m.step()
        opt_p.step()
    return step


CASES: dict[str, Callable[[int | None], Callable[[], None]]] = {
    "svg_lp/mmnist": lambda b: svg_case("learned", "mmnist", b),
    "svg_fp/mmnist": lambda b: svg_case("fixed", "mmnist", b),
    "svg_lp/kth": lambda b: svg_case("learned", "kth", b),
    "svg_lp/bair": lambda b: svg_case("learned", "bair", b),
    "drnet/kth128": lambda b: drnet_case("kth128", b, "disentangle"),
    "drnet-lstm/kth128": lambda b: drnet_case("kth128", b, "lstm"),
    "p2p/mmnist": lambda b: p2p_case("mmnist", b),
}
CPU_CASES: dict[str, tuple[Callable[[int | None], Callable[[], None]], Callable[[], int]]] = {
    # name: (case, number of steps of the cpu profile)
    "svg_lp/moving-shapes": (lambda b: svg_case("learned", "moving-shapes", b),
                             lambda: svg_config.cpu_profile("learned")(_spec("moving-shapes")).train.steps),
    "svg_fp/moving-shapes": (lambda b: svg_case("fixed", "moving-shapes", b),
                             lambda: svg_config.cpu_profile("fixed")(_spec("moving-shapes")).train.steps),
    "drnet/moving-shapes": (lambda b: drnet_case("moving-shapes", b, "disentangle"),
                            lambda: drnet_config.cpu(_spec("moving-shapes")).train.steps),
    "drnet-lstm/moving-shapes": (lambda b: drnet_case("moving-shapes", b, "lstm"),
                                 lambda: drnet_config.cpu(_spec("moving-shapes")).lstm_train.steps),
    "p2p/moving-shapes": (lambda b: p2p_case("moving-shapes", b),
                          lambda: p2p_config.cpu(_spec("moving-shapes", True)).train.steps),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cases", nargs="*", help=f"from {', '.join([*CASES, *CPU_CASES])} (default: all of the profile)")
    p.add_argument("--profile", choices=("paper", "cpu"), default="paper")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the paper's)")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    global PROFILE
    PROFILE = args.profile
    cases = {**CASES, **{k: v[0] for k, v in CPU_CASES.items()}}
    names = args.cases or list(CASES if args.profile == "paper" else CPU_CASES)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{'case':26s} {'batch':>5s} {'wall s/step':>12s} {'cpu s/step':>11s} {'steps':>6s} {'est. cpu s':>10s}")
    for name in names:
        step = cases[name](args.batch)
        step()  # warm-up
        wall, cpu = [], []
        for _ in range(args.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        steps = CPU_CASES[name][1]() if name in CPU_CASES else None
        est = f"{steps * statistics.median(cpu):10.1f}" if steps else f"{'':>10s}"
        print(f"{name:26s} {args.batch or 'prof.':>5} {statistics.median(wall):12.3f} {statistics.median(cpu):11.3f} "
              f"{steps or '':>6} {est}", flush=True)


if __name__ == "__main__":
    main()
