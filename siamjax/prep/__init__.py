"""Offline preparation: raw datasets -> 511x511 context crops in TFRecord shards.

``prepare`` drives it, ``sources`` reads each official layout, ``crop`` is pysot's crop
geometry (docs/parity.md §6.1), ``check`` verifies a prepared folder and ``synthetic``
generates the synthetic dataset. The command-line front ends are ``siamjax prep`` /
``siamjax check-data`` and the scripts in the top-level ``data_prep/`` folder.
"""
