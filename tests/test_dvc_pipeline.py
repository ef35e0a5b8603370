"""dvc.yaml agrees with the code: every expanded stage command parses with the CLI's own parser,
params.yaml names exist in the registries and the CLI's choices, and each stage's outputs are the
folders the command writes (benchmark/paths.py's run-folder layout), so `dvc repro` caches what the
commands really produce. The expansion (foreach / matrix / ${...}) is done here, without DVC."""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest
import yaml

from benchmark import paths as P
from benchmark.cli import build_parser
from benchmark.registry import DATASETS, METHODS
from benchmark.utils import repo_root

ROOT = repo_root()
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
#: a stand-in for params.yaml's (empty by default) real_datasets, so those stages are checked too
REAL_EXAMPLE = [d for d in ("kth", "bair") if d in DATASETS.list()] or DATASETS.list()[:1]


def _lookup(name: str, item):
    if name == "item":
        return item
    if name.startswith("item."):
        return item[name[5:]]
    value = PARAMS
    for part in name.split("."):
        value = value[part]
    return value


def _interpolate(x, item):
    """``${name}`` / ``${item.key}`` substituted in every string of ``x`` (DVC's templating)."""
    if isinstance(x, str):
        whole = re.fullmatch(r"\$\{([^}]+)\}", x.strip())
        if whole and not isinstance(_lookup(whole.group(1), item), (str, int, float)):
            return _lookup(whole.group(1), item)  # a list, e.g. foreach: ${datasets}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(_lookup(m.group(1), item)), x)
    if isinstance(x, list):
        return [_interpolate(v, item) for v in x]
    if isinstance(x, dict):
        return {_interpolate(k, item): _interpolate(v, item) for k, v in x.items()}
    return x


def _items(stage: dict):
    if "foreach" in stage:
        items = _interpolate(stage["foreach"], None)
        if stage["foreach"] == "${real_datasets}" and not items:
            items = REAL_EXAMPLE
        return [(item, stage["do"]) for item in items]
    if "matrix" in stage:
        axes = {k: _interpolate(v, None) for k, v in stage["matrix"].items()}
        body = {k: v for k, v in stage.items() if k != "matrix"}
        return [(dict(zip(axes, combo)), body) for combo in itertools.product(*axes.values())]
    return [(None, stage)]


def expanded():
    """``[(stage name, item, body with ${...} substituted)]`` of every stage instance."""
    return [(name, item, _interpolate(body, item)) for name, stage in DVC["stages"].items()
            for item, body in _items(stage)]


def _outs(body) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o for o in body.get("outs", [])]


def _commands(body) -> list[list[str]]:
    cmd = " ".join(body["cmd"].split())
    return [shlex.split(part) for part in cmd.split("&&")]


PARSER = build_parser()  # parse_args leaves it unchanged: one for every command


def _parse(argv: list[str]) -> argparse.Namespace:
    assert argv[0] == "benchmark", f"stage command does not run the CLI: {argv}"
    try:
        return PARSER.parse_args(argv[1:])
    except SystemExit as e:
        raise AssertionError(f"the CLI parser rejects {' '.join(argv)}") from e


INSTANCES = expanded()


def test_expansion_covers_every_stage():
    names = {n for n, _, _ in INSTANCES}
    assert names == set(DVC["stages"])
    # datasets x methods x seeds for the per-method stages
    for verb in ("train", "sample", "evaluate"):
        assert sum(n == verb for n, _, _ in INSTANCES) == \
            len(PARAMS["datasets"]) * len(PARAMS["methods"]) * len(PARAMS["seeds"])


@pytest.mark.parametrize("name,item,body", INSTANCES, ids=[f"{n}-{i}" for n, i, _ in INSTANCES])
def test_every_stage_command_parses(name, item, body):
    for argv in _commands(body):
        _parse(argv)


def test_params_names_exist():
    parser_choices = {a.dest: a.choices for a in PARSER._subparsers._group_actions[0]
                      .choices["train"]._actions if a.choices}
    assert PARAMS["profile"] in parser_choices["profile"], "params.yaml profile is not a CLI profile"
    seeds = PARAMS["seeds"]
    assert isinstance(seeds, list) and seeds and len(set(seeds)) == len(seeds)
    assert all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    assert set(PARAMS["datasets"]) <= set(DATASETS.list())
    assert set(PARAMS["methods"]) <= set(METHODS.list())
    assert set(PARAMS.get("real_datasets") or []) <= set(DATASETS.list())
    for method in PARAMS["methods"]:
        assert PARAMS["profile"] in METHODS.get(method).profiles, f"{method} has no {PARAMS['profile']} profile"


def _run_folder(args) -> PurePosixPath:
    return PurePosixPath(P.run_dir(Path(args.out), args.dataset, args.method, args.profile, args.seed).as_posix())


def _norm(p) -> PurePosixPath:
    return PurePosixPath(Path(p).as_posix())


@pytest.mark.parametrize("name,item,body", INSTANCES, ids=[f"{n}-{i}" for n, i, _ in INSTANCES])
def test_stage_outputs_are_what_the_command_writes(name, item, body):
    argv = _commands(body)[-1]
    args = _parse(argv)
    outs = [_norm(o) for o in _outs(body)]
    if name in ("train", "sample", "evaluate"):
        run = _run_folder(args)
        expected = {"train": [run / "train"],
                    "sample": [run / PurePosixPath(P.samples("x")).parent],
                    "evaluate": [run / PurePosixPath(P.scores("x")).parent, run / P.RESULTS, run / P.MANIFEST]}[name]
        assert outs == expected
        for dep in body.get("deps", []):  # the previous stage's output, exactly
            if str(dep).startswith("runs/"):
                assert _norm(dep) in {run / "train", run / "samples"}, dep
    elif name == "variant":  # a baseline on a dataset variant: one stage, its whole run folder
        assert args.variant and args.dataset_option == [f"{args.variant}=true"]
        assert outs == [PurePosixPath(P.run_dir(Path(args.out), args.dataset, f"{args.method}@{args.variant}",
                                                args.profile, args.seed).as_posix())]
        assert [a.variant for a in map(_parse, _commands(body))] == [args.variant] * 3  # train, sample, evaluate
    elif name == "real":
        run = _run_folder(args)
        assert args.method == P.REAL and len(outs) == 1 and outs[0] in run.parents
    elif name == "report":
        assert outs == [_norm(args.out)] and _norm(args.out) == _norm(P.report_dir(Path("."), args.dataset))
        assert args.profile == PARAMS["profile"] and _norm(args.runs) == _norm(P.runs_root(Path(".")))
    elif name in ("prepare", "prepare-real"):
        # datasets store under <data root>/<name>/<key>/
        assert outs == [_norm(args.data_root) / args.name]
    elif name == "fetch":
        from benchmark.data.fetch import raw_dir

        assert outs == [_norm(raw_dir(args.data_root, args.name))]
    else:
        pytest.fail(f"stage {name!r} has no output check here: add one")


def test_variant_stages_are_the_rows_benchmark_run_adds():
    """The DVC pipeline makes the same ``<baseline>@<variant>`` runs as ``benchmark run`` over params.yaml's
    methods (:func:`benchmark.run.variant_references`), so both render the same leaderboard."""
    from benchmark.run import variant_references

    made = {(args.dataset, args.method, args.variant, args.seed)
            for args in (_parse(_commands(body)[-1]) for name, _, body in INSTANCES if name == "variant")}
    expected = {(d, m, v, s) for d in PARAMS["datasets"] for s in PARAMS["seeds"]
                for m, v, _ in variant_references(PARAMS["methods"], d)}
    assert made == expected and made


def test_the_seed_axis_gives_each_seed_its_own_stages_and_folders(monkeypatch):
    """params.yaml ``seeds: [0, 3]``: every per-method stage is there once per seed, its command runs
    that seed and its outputs are that seed's run folder; the real bound stays one stage per dataset."""
    monkeypatch.setitem(PARAMS, "seeds", [0, 3])
    instances = expanded()
    for verb in ("train", "sample", "evaluate"):
        per_seed: dict[int, set[str]] = {}
        for name, item, body in instances:
            if name != verb:
                continue
            args = _parse(_commands(body)[-1])
            assert args.seed == item["seed"]
            assert all(f"/seed{item['seed']}/" in f"{o}/" for o in _outs(body))
            per_seed.setdefault(args.seed, set()).add(args.method)
        assert sorted(per_seed) == [0, 3] and per_seed[0] == per_seed[3] == set(PARAMS["methods"])
    assert sum(n == "real" for n, _, _ in instances) == len(PARAMS["datasets"])
