"""Experiments: variants × seeds trained on the same data and budget, then compared.

``runner.run_experiment`` (the ``siamjax experiment`` command) plans the runs
(``plan.py``), trains them (seed ensembles through ``siamjax.train.loop.train``),
evaluates them, measures what each variant costs (``costs.py``) and writes the comparison
(``report.py``, with the statistics of ``statistics.py``). Configs live in
``configs/experiments/``.
"""
