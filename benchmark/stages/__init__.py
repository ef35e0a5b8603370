"""The stages of one run, one module each (each is also a CLI verb and a DVC stage):

* :mod:`~benchmark.stages.spec`     -- :class:`RunSpec` (what identifies a run), opening the dataset,
  building the method;
* :mod:`~benchmark.stages.cache`    -- stage records and content keys (source hashes of the code a
  stage imports, weight-file hashes of the feature networks, data identity);
* :mod:`~benchmark.stages.train`    -- the method's training stages (``train/`` or ``train/<stage>/``);
* :mod:`~benchmark.stages.sample`   -- samples of the test protocol from one :class:`Conditioning` per
  batch, galleries, likelihoods;
* :mod:`~benchmark.stages.evaluate` -- scores (through :mod:`benchmark.evaluate`), results.json and
  manifest.json;
* :mod:`~benchmark.stages.real`     -- the real-data bound;
* :mod:`~benchmark.stages.verify`   -- ``benchmark manifest verify``.

:mod:`benchmark.pipeline` chains them (``run_method``) and re-exports the public names.
"""
