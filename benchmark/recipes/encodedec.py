"""Voleti, Kahou & Pal, "Simple Video Generation using Neural ODEs" (NeurIPS 2019 workshop,
arXiv:2109.03292) as a recipe: Moving MNIST 10 -> 10 with the latent ODE.

The paper shows its results as figures (1- and 2-digit Moving MNIST predictions); we found no
table of numbers to put beside ours [unverified: the full text was not available when this was
written], so ``encodedec_mmnist`` reports our PSNR/SSIM only, for the solver settings recorded in
the run's config (dopri5, rtol 1e-7, atol 1e-9 by default).
"""

from __future__ import annotations

from benchmark.reproduce import Recipe, register_recipe

register_recipe(Recipe(
    name="encodedec_mmnist",
    title="EncODEDec: latent-ODE prediction on Moving MNIST 10 -> 10 (PSNR, SSIM)",
    paper="Voleti, Kahou & Pal, Simple Video Generation using Neural ODEs (NeurIPS 2019 workshop, arXiv:2109.03292)",
    reproduces="Moving MNIST predictions (the paper's figures; no numeric table)",
    methods=("encodedec",),
    datasets={"smoke": "moving-shapes", "paper": "mmnist"},
    metrics=("psnr", "ssim"),
    task="prediction",
    description=(
        "Encoder -> latent neural ODE -> decoder, trained to reconstruct the 10 context frames and predicting "
        "the next 10 by integrating the ODE further (the official objective). The paper prints no numbers to "
        "compare with; frames at non-integer times are available through Conditioning.target_times."),
))
