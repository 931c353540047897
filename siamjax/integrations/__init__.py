"""Adapters for external evaluation toolkits (got10k, vot-toolkit)."""

from __future__ import annotations


def load_tracker(config_spec: str, checkpoint_dir: str, overrides=()):
    """A siamjax tracker (``init(frame_bgr, box)`` / ``track(frame_bgr)``) from files."""
    from siamjax.checkpoints import load_variables
    from siamjax.config_loader import apply_overrides, load_config
    from siamjax.tracking import TrackerNetwork, build_tracker

    config = apply_overrides(load_config(config_spec), overrides)
    network = TrackerNetwork.from_config(config, load_variables(checkpoint_dir))
    return build_tracker(config, network)
