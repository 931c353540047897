"""Offline preparation: raw datasets -> 511x511 context crops in TFRecord shards.

``siamjax prep --dataset NAME --src RAW --out DIR`` drives it (``data_prep.prepare``);
``data_prep.sources`` reads each official layout, ``data_prep.crop`` is pysot's crop
geometry, ``data_prep.synthetic`` generates the synthetic dataset.
"""
