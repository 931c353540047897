"""The tracker network written for other runtimes.

* ``jax_artifacts``: serialized ``jax.export`` artifacts per platform (``siamjax export``).
* ``onnx``: ONNX models of the plain formulation (``siamjax export --format onnx``),
  also what the onnxruntime tracker backend (``siamjax/tracking/onnx_network.py``) runs.
"""
