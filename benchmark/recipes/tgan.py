"""TGAN (Saito, Matsumoto & Saito 2017), UCF101 inception score: TGAN (SVC) vs VGAN.

The numbers are the TGAN paper's UCF101 inception scores (16 frames at
64x64, C3D-based video IS). Our ``is_video`` metric needs the pinned C3D weights; a smoke run
without them computes only the offline metrics (or everything with ``--weights random``,
labelled not comparable).
"""

from __future__ import annotations

from benchmark.reproduce import Recipe, Reported, register_recipe

SOURCE = "Saito et al. 2017, UCF101 inception score"
# The paper's numbers and ours use different IS protocols (the table cannot be read across them):
PROTOCOL_NOTE = ("TGAN's own IS code: cubic resize to 128, centre crop 112, ~10k samples in one split; "
                 "ours: the TGANv2 protocol (2048 samples x 10 repeats, 1 split each, C3D at 112)")

register_recipe(Recipe(
    name="tgan_ucf101_is",
    title="inception score on UCF101: TGAN (singular value clipping) vs VGAN",
    paper="Saito, Matsumoto & Saito 2017, Temporal Generative Adversarial Nets with Singular Value Clipping",
    reproduces="UCF101 inception score table",
    methods=("tgan", "vgan"),
    datasets={"smoke": "moving-shapes", "paper": "ucf101"},
    metrics=("is_video",),
    task="synthesis",
    reported=(Reported("tgan", "is_video", 11.85, 0.07, "ucf101", SOURCE, PROTOCOL_NOTE),
              Reported("vgan", "is_video", 8.18, 0.05, "ucf101", SOURCE, PROTOCOL_NOTE),
              Reported("real data", "is_video", 34.49, 0.03, "ucf101", SOURCE, PROTOCOL_NOTE)),
    real_row="real data",
    description=("Unconditional 16-frame 64x64 generation on UCF101 scored with the C3D inception score. "
                 "The VGAN row is our two-stream VGAN (paper profile: 32 frames, scored on their first 16). "
                 "Protocols differ: the paper's column was computed with TGAN's own IS code (cubic resize to "
                 "128, centre crop 112, about 10k samples in one split); ours is the TGANv2 protocol "
                 "(2048 samples, 10 repeats of 1 split, recorded in each number's metric protocol), so the "
                 "columns rank methods but their values are not interchangeable."),
))
