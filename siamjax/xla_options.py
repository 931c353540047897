"""XLA:CPU compiler options chosen per compiled program (``jax.jit(compiler_options=)``).

* Scheduling: XLA:CPU orders operations for concurrency by default, which keeps more
  buffers alive at once. Its memory-optimised scheduler cut r50 model initialisation's
  temporaries 408 -> 216 MB (process peak 1.21 -> 0.92 GB) on the 2-core machine; it is
  not always better (the r50 train step with layer2-4 trained: 1750 -> 2892 MB), so it
  is used for initialisation only.
* YNN fusions: jaxlib 0.10's XLA:CPU hands dots and their neighbours to its YNNPACK
  runtime by default. For some train steps that was slower and took more memory than
  XLA's own kernels (batch 8 without them: r50 backbone frozen 8.1 -> 6.6 s per step,
  step peak 1.21-1.25 -> 1.09-1.11 GB; alex 1.65 -> 0.98 s), for others faster (r50
  with layer2-4 trained 22.7 vs 25.3 s, the quickstart's TinyNet 54 vs 42 pairs/s), so
  ``config.train.ynn_fusions`` picks per backbone and phase (``train/step.py``).
"""

from __future__ import annotations

import jax

_MEMORY_OPTIMIZED_SCHEDULER = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}


def memory_optimized_scheduling() -> dict | None:
    """``compiler_options`` for ``jax.jit``: XLA:CPU's memory-optimised scheduler, or None
    (default scheduling) on other backends."""
    if jax.default_backend() != "cpu":
        return None
    return dict(_MEMORY_OPTIMIZED_SCHEDULER)


def train_step_options(ynn_fusions: bool) -> dict | None:
    """``compiler_options`` for a train step: with or without YNN fusions on CPU; None
    (defaults) elsewhere."""
    if jax.default_backend() != "cpu" or ynn_fusions:
        return None
    return {"xla_cpu_experimental_ynn_fusion_type": ""}
