"""``benchmark reproduce LIST|NAME``: the recipes' command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark.reproduce.model import PROFILES, list_recipes
from benchmark.reproduce.runner import run_recipe


def cmd_reproduce(args: argparse.Namespace) -> int:
    if args.name in ("list", "LIST", None):
        recipes = list_recipes()
        if args.json:
            print(json.dumps([r.summary() for r in recipes], indent=2))
            return 0
        from benchmark.console import print_tables

        rows = [(r.name, f"{r.reproduces}: {r.title}", r.paper, ", ".join(v.label for v in r.rows()),
                 r.datasets.get("smoke", "—"), r.datasets.get("paper", "—"), str(len(r.reported))) for r in recipes]
        print_tables([("Recipes (benchmark reproduce NAME [--profile smoke|paper])",
                       ("name", "reproduces", "paper", "rows", "smoke dataset", "paper dataset", "reported"), rows)])
        return 0
    from benchmark.config import parse_override_args

    path = run_recipe(args.name, profile=args.profile, out=args.out, seed=args.seed, device=args.device,
                      data_root=args.data_root, progress=not args.no_progress,
                      overrides=parse_override_args(args.overrides), weights=args.weights, dataset=args.dataset)
    print(path)
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run a paper's experiment (recipe) and render ours vs paper-reported")
    p.add_argument("name", nargs="?", default="list", help="recipe name, or 'list'")
    p.add_argument("--profile", default="smoke", choices=PROFILES, help="smoke (seconds), cpu or paper (GPU)")
    p.add_argument("--dataset", default=None, help="override the recipe's dataset for this profile")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", type=Path, default=Path("."), help="writes <out>/runs and <out>/reports")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--data-root", type=Path, default=None, help="prepared data (default $VIDBENCH_DATA or ./data)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field of every method, e.g. --set train.steps=50")
    p.add_argument("--weights", default="pinned", choices=("pinned", "random"), help="feature-network weights: pinned, or random (pipeline tests; not comparable)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--json", action="store_true", help="with 'list': JSON")
    p.set_defaults(fn=cmd_reproduce)
