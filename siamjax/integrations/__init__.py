"""Adapters for external evaluation toolkits (got10k, vot-toolkit).

Both build their tracker with ``siamjax.loading.load_tracker`` (re-exported here).
"""

from __future__ import annotations

from siamjax.loading import load_tracker

__all__ = ["load_tracker"]
