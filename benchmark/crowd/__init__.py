"""Human two-alternative forced-choice (2AFC) studies, end to end.

* :mod:`benchmark.crowd.design`  — build a study (pairs, left/right balance, attention checks) from runs;
* :mod:`benchmark.crowd.server`  — the in-lab rater web app (standard library HTTP server);
* :mod:`benchmark.crowd.db`      — the SQLite judgement store shared by the app and the importer;
* :mod:`benchmark.crowd.export`  — crowd-platform task CSV + HTML template, and the results importer;
* :mod:`benchmark.crowd.analyze` — attention-check filtering, preference rates with intervals,
  Bradley–Terry scores, rater agreement, and the tables of papers/002 and papers/003.

A study is a folder::

    <study>/study.json        the design (seed, hash, systems, trials, video tokens); never served
    <study>/media/<token>.mp4 the videos under opaque names (what raters' browsers fetch)
    <study>/judgements.sqlite the default database
"""

STUDY_SCHEMA = "vidbench.crowd.study/1"
ANALYSIS_SCHEMA = "vidbench.crowd.analysis/1"
