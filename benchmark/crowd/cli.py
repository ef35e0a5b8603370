"""`benchmark crowd ...` — human 2AFC studies.

    benchmark crowd design --dataset D --task prediction --systems real,svg_lp,vgan --out studies/NAME
    benchmark crowd serve studies/NAME --raters 10 [--port 8000]     (links: studies/NAME/judgements.links.txt)
    benchmark crowd export studies/NAME --base-url https://host/media --out studies/NAME/platform
    benchmark crowd import studies/NAME results.csv
    benchmark crowd revoke studies/NAME LINK_OR_TOKEN... | --rater-id N
    benchmark crowd close studies/NAME [--reopen]
    benchmark crowd analyze studies/NAME [--out reports/D/crowd/NAME]

A study folder is never silently replaced: `design` refuses a folder holding another study, a
database or foreign files in media/ unless --force. Databases are 0600 and store token hashes
only; each database keeps its links in <db stem>.links.txt next to it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.utils import UserError


def _pairs(spec: str | None) -> tuple[tuple[str, str], ...]:
    if not spec or spec == "all":
        return ()
    out = []
    for item in spec.split(","):
        a, sep, b = item.strip().partition(":")
        if not sep or not a or not b:
            raise UserError(f"--pairs takes 'all' or a comma list of A:B, got {item!r}")
        out.append((a, b))
    return tuple(out)


def cmd_design(args: argparse.Namespace) -> int:
    from benchmark.crowd.design import StudyConfig, design_study

    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    cfg = StudyConfig(dataset=args.dataset, task=args.task, systems=systems, pairs=_pairs(args.pairs),
                      judgements_per_pair=args.judgements, answers=args.answers, checks=args.checks,
                      check_kinds=tuple(args.check_kinds.split(",")), question=args.question, seed=args.seed,
                      profile=args.profile, run_seed=args.run_seed, fps=args.fps, name=args.name or "",
                      kbps=args.kbps, scale=args.scale)
    out = args.out or Path("studies") / (cfg.name or f"{cfg.dataset}-{cfg.task}")
    path = design_study(cfg, args.runs, out, data_root=args.data_root, real_source=args.real_source,
                        force=args.force)
    from benchmark.crowd.design import load_study

    study, _ = load_study(path)
    print(f"{path}: {len(study['trials'])} trials ({sum(1 for t in study['trials'] if t['check'])} attention "
          f"checks), {len(study['videos'])} videos, hash {study['hash']}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from benchmark.crowd.server import serve

    serve(args.study, args.db, args.host, args.port, args.raters, args.trials_per_rater,
          request_timeout=args.request_timeout, max_connections=args.max_connections)
    return 0


def _open_db(study_path: Path, db: Path | None):
    from benchmark.crowd.db import JudgementDB
    from benchmark.crowd.design import load_study

    study, folder = load_study(study_path)
    db_file = Path(db) if db else folder / "judgements.sqlite"
    if not db_file.is_file():
        raise UserError(f"{db_file}: no judgement database")
    return JudgementDB(db_file, study["hash"]), db_file


def cmd_revoke(args: argparse.Namespace) -> int:
    from benchmark.crowd.db import token_hash
    from benchmark.crowd.server import links_path, write_links

    if not args.links and not args.rater_id:
        raise UserError("name the links (or tokens) to revoke, or --rater-id N")
    db, db_file = _open_db(args.study, args.db)
    try:
        ids = set(args.rater_id or [])
        for link in args.links:
            rater = db.rater(link.strip().rstrip("/").rsplit("/", 1)[-1])
            if rater is None:
                raise UserError(f"{link[:80]}: not a rater link of {db_file}")
            ids.add(rater["id"])
        for rid in sorted(ids):
            if not db.revoke(rid):
                raise UserError(f"no rater {rid} in {db_file}")
        hashes = {r["token_hash"] for r in db.raters() if r["id"] in ids}
    finally:
        db.close()
    links = links_path(db_file)
    if links.is_file():  # drop them from the links file too (a running server refuses them at once)
        lines = [ln.strip() for ln in links.read_text().splitlines() if ln.strip()]
        keep = [ln for ln in lines if token_hash(ln.rsplit("/", 1)[-1]) not in hashes]
        if len(keep) != len(lines):
            url = keep[0].rsplit("/r/", 1)[0] if keep else ""
            write_links(links, url, [ln.rsplit("/", 1)[-1] for ln in keep])
    print(f"revoked {len(ids)} rater link(s) in {db_file}; their answers so far are kept")
    return 0


def cmd_close(args: argparse.Namespace) -> int:
    db, db_file = _open_db(args.study, args.db)
    try:
        db.set_closed(not args.reopen)
    finally:
        db.close()
    print(f"{db_file}: study {'reopened' if args.reopen else 'closed: no new answers or imports are accepted'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from benchmark.crowd.export import export_tasks

    files = export_tasks(args.study, args.base_url, args.out or Path(args.study) / "platform")
    print(f"wrote {files['tasks']} and {files['question']}; upload {files['media']}/ to {args.base_url}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from benchmark.crowd.export import import_results

    rep = import_results(args.study, args.results, args.db, skip_invalid=args.skip_invalid)
    for line, msg in rep["errors"]:
        print(f"{args.results}:{line}: {msg}")
    print(f"imported {rep['imported']} judgements, {len(rep['errors'])} invalid rows, "
          f"{rep['skipped']} rejected assignments skipped")
    if rep["errors"] and not args.skip_invalid:
        print("nothing imported; fix the rows or pass --skip-invalid")
    return 1 if rep["errors"] else 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from benchmark.crowd.analyze import analyze_study

    result, path = analyze_study(args.study, args.db, args.out, interval=args.interval,
                                 min_check_accuracy=args.min_check_accuracy, keep_unchecked=args.keep_unchecked,
                                 min_checks=args.min_checks, drop_fast=args.drop_fast)
    print(path.with_suffix(".md").read_text())
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("crowd", help="human 2AFC studies: design, serve, export/import, analyze",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="crowd_verb", required=True)

    q = csub.add_parser("design", help="build a study (trials, balanced order, attention checks) from runs")
    q.add_argument("--dataset", required=True, help="dataset whose runs are compared")
    q.add_argument("--task", default="prediction", choices=("prediction", "synthesis"), help="which task's samples")
    q.add_argument("--systems", required=True, help="comma list of methods; 'real' = the real test clips")
    q.add_argument("--pairs", default="all", help="'all' or a comma list of A:B")
    q.add_argument("--judgements", type=int, default=20, help="trials per pair of systems")
    q.add_argument("--answers", type=int, default=2, choices=(2, 3), help="2: left/right; 3: + no preference")
    q.add_argument("--checks", type=int, default=4, help="attention-check trials (real vs broken)")
    q.add_argument("--check-kinds", default="shuffle,noise", help="how attention-check clips are broken (comma list)")
    q.add_argument("--question", default="Which video is more realistic?", help="the question raters answer")
    q.add_argument("--seed", type=int, default=0, help="seed of the trial order and clip choice")
    q.add_argument("--runs", type=Path, default=Path("runs"), help="runs folder")
    q.add_argument("--profile", default="smoke", help="profile of the runs to compare")
    q.add_argument("--run-seed", type=int, default=0, help="which seed<N> run folder of each method")
    q.add_argument("--data-root", type=Path, default=None, help="prepared data (default $VIDBENCH_DATA or ./data)")
    q.add_argument("--real-source", default="dataset", choices=("dataset", "run"),
                   help="real clips from the dataset's test protocol, or from the real run's saved samples")
    q.add_argument("--fps", type=int, default=8, help="frames per second of the shown videos")
    q.add_argument("--kbps", type=int, default=0,
                   help="constant bit rate of the H.264 videos (default: 0.5 bit per displayed pixel and frame)")
    q.add_argument("--scale", type=int, default=2, help="show frames enlarged this many times (pixel repetition)")
    q.add_argument("--name", default=None, help="study name (default: from dataset, task and systems)")
    q.add_argument("--out", type=Path, default=None, help="study folder (default studies/<name>)")
    q.add_argument("--force", action="store_true",
                   help="replace another study in --out (its study.json is kept as study-<hash>.json; "
                        "databases and files that are not its videos are never deleted)")
    q.set_defaults(fn=cmd_design)

    q = csub.add_parser("serve", help="run the rater web app (localhost by default)")
    q.add_argument("study", type=Path, help="study folder (from `benchmark crowd design`)")
    q.add_argument("--db", type=Path, default=None, help="judgements database (default <study>/judgements.sqlite)")
    q.add_argument("--host", default="127.0.0.1", help="address to listen on")
    q.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    q.add_argument("--raters", type=int, default=0, help="make sure this many active personal links exist")
    q.add_argument("--trials-per-rater", type=int, default=None,
                   help="regular trials per new rater (>= 1; default: every trial); every rater gets all checks")
    q.add_argument("--request-timeout", type=float, default=10.0,
                   help="seconds a request (headers and body, or an idle keep-alive connection) may take")
    q.add_argument("--max-connections", type=int, default=256,
                   help="open connections at most (also kept below the file-descriptor limit)")
    q.set_defaults(fn=cmd_serve)

    q = csub.add_parser("export", help="task CSV + HTML template for a crowd platform")
    q.add_argument("study", type=Path, help="study folder (from `benchmark crowd design`)")
    q.add_argument("--base-url", required=True, help="where <study>/media/ will be hosted")
    q.add_argument("--out", type=Path, default=None, help="output folder (default <study>/platform)")
    q.set_defaults(fn=cmd_export)

    q = csub.add_parser("import", help="validate and load a crowd platform's results CSV")
    q.add_argument("study", type=Path, help="study folder (from `benchmark crowd design`)")
    q.add_argument("results", type=Path, help="the platform's results CSV")
    q.add_argument("--db", type=Path, default=None, help="judgements database (default <study>/judgements.sqlite)")
    q.add_argument("--skip-invalid", action="store_true", help="import the valid rows even if some are not")
    q.set_defaults(fn=cmd_import)

    q = csub.add_parser("revoke", help="revoke rater links (e.g. leaked ones); their answers so far are kept")
    q.add_argument("study", type=Path, help="study folder (from `benchmark crowd design`)")
    q.add_argument("links", nargs="*", help="links or tokens, as in the links file")
    q.add_argument("--rater-id", type=int, action="append", help="a rater number (as in the analysis); repeatable")
    q.add_argument("--db", type=Path, default=None, help="judgements database (default <study>/judgements.sqlite)")
    q.set_defaults(fn=cmd_revoke)

    q = csub.add_parser("close", help="close a study: the app and `import` accept no more answers")
    q.add_argument("study", type=Path, help="study folder (from `benchmark crowd design`)")
    q.add_argument("--db", type=Path, default=None, help="judgements database (default <study>/judgements.sqlite)")
    q.add_argument("--reopen", action="store_true", help="accept answers again")
    q.set_defaults(fn=cmd_close)

    q = csub.add_parser("analyze", help="preference tables with intervals, Bradley–Terry, agreement")
    q.add_argument("study", type=Path, help="study folder (from `benchmark crowd design`)")
    q.add_argument("--db", type=Path, default=None, help="judgements database (default <study>/judgements.sqlite)")
    q.add_argument("--out", type=Path, default=None, help="output stem (default reports/<dataset>/crowd/<name>)")
    q.add_argument("--interval", default="wilson", choices=("wilson", "clopper-pearson"), help="binomial interval of the preference shares")
    q.add_argument("--min-check-accuracy", type=float, default=0.75,
                   help="share of answered attention checks a rater must get right (0..1)")
    q.add_argument("--min-checks", type=int, default=None,
                   help="attention checks a rater must answer (default: all assigned; a platform worker: all the study's)")
    q.add_argument("--drop-fast", action="store_true",
                   help="leave out answers given before one full play of the clip (they are always flagged)")
    q.add_argument("--keep-unchecked", action="store_true", help="keep raters who were assigned no attention check")
    q.set_defaults(fn=cmd_analyze)
