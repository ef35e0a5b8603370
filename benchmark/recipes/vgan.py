"""Vondrick et al. 2016 (VGAN) as recipes: Table 1, the static-frame comparison, Figure 5.

* ``vgan_streams`` (Table 1): one-stream vs two-stream vs the autoencoder baseline (2AFC study).
* ``vgan_static_frame`` (§3.2 text): two-stream VGAN against a static real frame (2AFC study).
* ``vgan_future_fig5`` (§3.4, Figure 5): the future of a static image from ``vgan_future``, as a gallery.

The paper's only quantitative generation result is a human study: workers saw two videos and
answered "Which video is more realistic?"; Table 1 prints the % of trials preferring the row's
model. The crowd-study table itself comes from :mod:`benchmark.crowd` once judgements are in; this
recipe trains the three generators (plus real clips), scores them with the automatic metrics, and
*prepares the paired study* (``benchmark.crowd.design.design_study``) with Table 1's six pairs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.reproduce import Recipe, RecipeContext, RecipeOutcome, Reported, register_recipe, run_methods

log = logging.getLogger(__name__)

SOURCE = "Vondrick et al. 2016 Table 1 (% of 2AFC trials preferring the row)"
SCENES = ("golf", "beach", "train", "baby")
#: (row, column opponent) -> (golf, beach, train, baby, mean), as printed.
TABLE1 = {
    ("vgan", "vgan_ae_gmm"): (88, 83, 87, 71, 82),
    ("vgan_one_stream", "vgan_ae_gmm"): (85, 88, 85, 73, 82),
    ("vgan", "vgan_one_stream"): (55, 58, 47, 52, 53),
    ("vgan", "real"): (21, 23, 23, 6, 18),
    ("vgan_one_stream", "real"): (17, 21, 19, 8, 16),
    ("vgan_ae_gmm", "real"): (4, 2, 4, 2, 3),
}
STUDY_PAIRS = tuple(TABLE1)


def _reported() -> tuple[Reported, ...]:
    out = []
    for (row, other), values in TABLE1.items():
        for scene, v in zip((*SCENES, "mean"), values):
            out.append(Reported(row, f"% preferred over {other}", float(v),
                                dataset=f"flickr-{scene}" if scene != "mean" else "flickr (mean of 4 scenes)",
                                source=SOURCE))
    return tuple(out)


def prepare_study(recipe: Recipe, ctx: RecipeContext, outcome: RecipeOutcome, systems: tuple[str, ...],
                  pairs: tuple[tuple[str, str], ...]) -> RecipeOutcome:
    """Prepare the paired 2AFC study of ``pairs`` from the recipe's runs ("Which video is more
    realistic?", left/right balanced, attention checks) and mark its columns pending."""
    from benchmark.crowd.design import StudyConfig, design_study

    study_dir = ctx.recipe_dir / f"{recipe.name}-study"
    cfg = StudyConfig(dataset=ctx.dataset, task="synthesis", systems=systems, pairs=pairs,
                      judgements_per_pair=4 if ctx.profile == "smoke" else 500, answers=2,
                      checks=2 if ctx.profile == "smoke" else 20,
                      question="Which video is more realistic?", seed=ctx.seed, profile=ctx.profile,
                      run_seed=ctx.seed, name=recipe.name)
    try:
        path = design_study(cfg, Path(ctx.out) / "runs", study_dir, data_root=ctx.data_root,
                            dataset_options=ctx.dataset_options)
        outcome.artifacts["paired 2AFC study (study.json + media/)"] = str(path)
        for (_, other) in pairs:  # the row's column: "% preferred over <other>"
            outcome.pending[f"% preferred over {other}"] = "awaiting crowd judgements (study prepared, see Notes)"
        outcome.notes.append(
            f"The crowd study is prepared at {path} ({len(pairs)} pairs x {cfg.judgements_per_pair} trials, "
            "left/right balanced, with attention checks). Serve it with `benchmark crowd serve`, then "
            "`benchmark crowd analyze` writes the '% preferred' numbers that fill the ours column.")
    except Exception as e:  # the runs may have failed; the page still shows what exists
        log.warning("%s: could not prepare the study: %s", recipe.name, e)
        outcome.notes.append(f"study not prepared: {type(e).__name__}: {e}")
    return outcome


def run_vgan_streams(recipe: Recipe, ctx: RecipeContext) -> RecipeOutcome:
    """Train/evaluate the three generators, then prepare the 2AFC study of Table 1's pairs."""
    outcome = run_methods(recipe, ctx)
    return prepare_study(recipe, ctx, outcome, ("vgan", "vgan_one_stream", "vgan_ae_gmm", "real"), STUDY_PAIRS)


register_recipe(Recipe(
    name="vgan_streams",
    title="one-stream vs two-stream VGAN vs autoencoder (2AFC realism)",
    paper="Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics",
    reproduces="Table 1",
    methods=("vgan", "vgan_one_stream", "vgan_ae_gmm"),
    datasets={"smoke": "moving-shapes", "paper": "vgan-golf"},
    metrics=None,
    task="synthesis",
    reported=_reported(),
    runner=run_vgan_streams,
    description=(
        "VGAN's generation experiment: the two-stream generator (static 2D background + masked 3D "
        "foreground), the one-stream 3D generator, and the autoencoder + GMM baseline, judged by people "
        "in pairs. The paper profile runs on the golf scene set (vgan-golf; --dataset vgan-beach for the beach "
        "columns); train station and hospital babies are not released. Automatic metrics (ours only: the "
        "paper reports none) are listed for every row; the preference percentages come from the prepared study."),
))


# ---------------------------------------------------------------- static-frame comparison ---

STATIC_PAIRS = (("static_frame", "vgan"),)
STATIC_SOURCE = "Vondrick et al. 2016 §3.2 (text: 'workers only chose the static frame 38% of the time')"


def run_vgan_static_frame(recipe: Recipe, ctx: RecipeContext) -> RecipeOutcome:
    """Train VGAN and the static-frame baseline, then prepare the 2AFC study of that one pair."""
    outcome = run_methods(recipe, ctx)
    return prepare_study(recipe, ctx, outcome, ("vgan", "static_frame"), STATIC_PAIRS)


register_recipe(Recipe(
    name="vgan_static_frame",
    title="two-stream VGAN vs a static real frame (2AFC realism)",
    paper="Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics",
    reproduces="§3.2 static-frame comparison (text)",
    methods=("vgan", "static_frame"),
    datasets={"smoke": "moving-shapes", "paper": "vgan-golf"},
    metrics=None,
    task="synthesis",
    reported=(Reported("static_frame", "% preferred over vgan", 38.0, dataset="flickr (4 scenes, pooled)",
                       source=STATIC_SOURCE,
                       note="one pooled number in the text, no per-scene table; 62% preferred VGAN"),),
    runner=run_vgan_static_frame,
    description=(
        "Is VGAN's motion better than no motion? Workers saw a two-stream VGAN video and a static frame (our "
        "`static_frame` baseline: a random real training frame repeated over time) and answered \"Which video "
        "is more realistic?\"; the paper reports the static frame chosen in 38% of trials, pooled over its "
        "scenes. The recipe trains both rows, lists their automatic metrics (ours only) and prepares the "
        "paired study; the '% preferred' cell fills in once `benchmark crowd analyze` has judgements."),
))


# --------------------------------------------------------------------------- Figure 5 ---

FUTURE_GALLERY_INPUTS = 4   # test images shown
FUTURE_GALLERY_SAMPLES = 3  # sampled futures per image


def future_gallery_tiles(videos, k: int, context: int, inputs: int = FUTURE_GALLERY_INPUTS,
                         per_input: int = FUTURE_GALLERY_SAMPLES):
    """Figure 5's tiles, row by row: for each of the first ``inputs`` test images, the static input
    (the last conditioning frame) held still, then up to ``per_input`` of its futures. A deterministic
    model (``vgan_future`` maps an image to one video, as in the paper) has k identical samples per
    input: then one future is shown.

    ``videos``: ``(N * k, T, C, H, W)`` uint8, ``k`` samples per input, context frames first.
    Returns ``(rows * (1 + m), T - context, C, H, W)``, ``m`` futures per row."""
    import numpy as np

    if context < 1:
        raise ValueError(f"a future needs at least one conditioning frame, got context={context}")
    n = min(inputs, len(videos) // k)
    if n < 1:
        raise ValueError("no samples to show")
    deterministic = all(np.array_equal(np.asarray(videos[b * k]), np.asarray(videos[b * k + s]))
                        for b in range(n) for s in range(1, k))
    m = 1 if deterministic else min(per_input, k)
    tiles = []
    for b in range(n):
        futures = [np.asarray(videos[b * k + s][context:]) for s in range(m)]
        tiles.append(np.repeat(np.asarray(videos[b * k][context - 1:context]), len(futures[0]), axis=0))
        tiles += futures
    return np.stack(tiles)


def write_future_gallery(samples_npz: Path, out: Path) -> Path:
    """:func:`future_gallery_tiles` of a prediction run's samples as an animated GIF grid (one row per image)."""
    import numpy as np

    from benchmark import video as V

    videos = V.load_npz(samples_npz)
    with np.load(samples_npz) as z:
        k = int(z["num_samples"]) if "num_samples" in z.files else 1
        context = int(z["context_frames"]) if "context_frames" in z.files else 1
    tiles = future_gallery_tiles(videos, k, context)
    rows = min(FUTURE_GALLERY_INPUTS, len(videos) // k)
    return V.write_video(out, V.video_grid(tiles, ncol=len(tiles) // rows), fps=4)


def run_vgan_future(recipe: Recipe, ctx: RecipeContext) -> RecipeOutcome:
    """Train/sample/score the rows (BAIR: the 1 -> 15 protocol, one conditioning frame), then the
    Figure 5 gallery of ``vgan_future``'s futures."""
    import dataclasses

    from benchmark import paths as P
    from benchmark.reproduce import results_path

    runs = ctx
    if ctx.dataset == "bair" and "protocol" not in ctx.dataset_options:
        # one static frame -> 15 futures; own run folders (another protocol than `benchmark run`'s BAIR runs)
        runs = dataclasses.replace(ctx, dataset_options={**ctx.dataset_options, "protocol": "fvd"},
                                   out=Path(ctx.out) / "recipes" / recipe.name)
    outcome = run_methods(recipe, runs)
    npz = results_path(Path(runs.out), runs, "vgan_future").parent / P.samples(recipe.task)
    if npz.exists():
        gif = write_future_gallery(npz, ctx.recipe_dir / f"{recipe.name}-futures.gif")
        outcome.artifacts["Figure 5 gallery: static input, then its generated future (gif)"] = str(gif)
    else:
        outcome.notes.append("no vgan_future samples: the gallery was not written")
    outcome.notes.append("vgan_future sees one frame (the last context frame; the cpu profile's velocity net "
                         "also reads the one before it); copy_last holds that frame still, the no-motion answer "
                         "to the same question.")
    return outcome


register_recipe(Recipe(
    name="vgan_future_fig5",
    title="future generation from a static image: vgan_future's futures (gallery)",
    paper="Vondrick, Pirsiavash & Torralba 2016, Generating Videos with Scene Dynamics",
    reproduces="Figure 5 (§3.4 future generation)",
    methods=("vgan_future", "copy_last"),
    datasets={"smoke": "moving-shapes", "paper": "bair"},
    metrics=None,
    task="prediction",
    reported=(),
    runner=run_vgan_future,
    description=(
        "VGAN conditioned on one image: a five-layer encoder in front of the two-stream generator, trained with "
        "the adversarial loss plus lambda ||x0 - G0(x0)||^2 on the first frame. The paper shows this qualitatively "
        "only (Figure 5, held-out Flickr images; no number is printed), so the paper column is empty and the "
        "gallery beside this page is the reproduction: per test image, the static input, then the generated future "
        "(the model maps an image to one video, so its k samples are identical: diversity 0 by design). "
        "The automatic prediction metrics of both rows (ours only) say how far the futures are from the real "
        "ones. The paper's Flickr videos are not released; the paper profile runs on BAIR with one conditioning "
        "frame (protocol fvd: 1 -> 15), the smoke profile on moving-shapes (its last context frame is the input)."),
))
