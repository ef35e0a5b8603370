"""Human two-alternative forced-choice (2AFC) studies, end to end.

* :mod:`benchmark.crowd.design`  — build a study (pairs, left/right balance, attention checks) from runs;
* :mod:`benchmark.crowd.server`  — the in-lab rater web app (standard library HTTP server);
* :mod:`benchmark.crowd.db`      — the SQLite judgement store shared by the app and the importer;
* :mod:`benchmark.crowd.export`  — crowd-platform task CSV + HTML template, and the results importer;
* :mod:`benchmark.crowd.analyze` — attention-check filtering, preference rates with intervals,
  Bradley–Terry scores, rater agreement, and the tables of Vondrick et al. 2016 and Walker et al. 2021.

A study is a folder::

    <study>/study.json          the design (seed, secret, hash, systems, trials, videos); 0600, never served
    <study>/media/<token>.mp4   one copy per trial side under opaque names, all of one size
    <study>/judgements.sqlite   the default database (0600; rater tokens stored as hashes only)
    <study>/judgements.links.txt  that database's rater links (0600; the only place tokens are kept)
"""

STUDY_SCHEMA = "vidbench.crowd.study/2"
STUDY_SCHEMAS_OLD = ("vidbench.crowd.study/1",)
DB_SCHEMA = "vidbench.crowd.db/2"
ANALYSIS_SCHEMA = "vidbench.crowd.analysis/1"
