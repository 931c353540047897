"""Two switches a long accelerator run needs: a profiler window and a compilation cache.

``config.train.profile_steps = "a,b"`` records a ``jax.profiler`` trace of steps a to b
(as the log counts them, 1-based, both included) into ``WORKDIR/profile`` on process 0;
TensorBoard shows it under its Profile tab (``pip install tensorboard-plugin-profile``,
then ``tensorboard --logdir WORKDIR/profile``). ``""`` (the default) records nothing.

``config.train.compilation_cache``: the persistent XLA compilation cache, so a restarted
or resumed job loads its compiled steps instead of compiling them again (minutes for r50
on a pod). ``"auto"`` (default): ``WORKDIR/compilation_cache`` for a local workdir, none
for a URL one (set a path, e.g. a bucket, to have one there); ``""``: off; any other value
is the cache directory. A cache already configured (``JAX_COMPILATION_CACHE_DIR``, or an
earlier run in this process) is kept.
"""

from __future__ import annotations

import jax

from siamjax import fs


class ConfigError(ValueError):
    """A train config value that cannot be used (the message names the field)."""


def parse_profile_steps(value) -> tuple[int, int] | None:
    """``"a,b"`` (or a pair) -> (a, b) with 1 <= a <= b; ``""`` / None -> None."""
    if value is None or value == "" or value == ():
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        first, last = (int(str(part).strip()) for part in parts)
    except ValueError:
        raise ConfigError(
            f"train.profile_steps {value!r}: expected 'FIRST,LAST' (two step numbers)"
        ) from None
    if not 1 <= first <= last:
        raise ConfigError(f"train.profile_steps {value!r}: expected 1 <= FIRST <= LAST")
    return first, last


class ProfileWindow:
    """Starts a trace before step ``first`` and stops it after step ``last`` (process 0)."""

    def __init__(self, setting, workdir: str):
        self.steps = parse_profile_steps(setting)
        self.directory = fs.join(workdir, "profile")
        self.active = False

    def before_step(self, step: int) -> None:
        """``step``: the 1-based number of the step about to run."""
        if self.steps and step == self.steps[0] and jax.process_index() == 0:
            jax.profiler.start_trace(self.directory)
            self.active = True

    def after_step(self, step: int, outputs) -> None:
        if self.active and step >= self.steps[1]:
            jax.block_until_ready(outputs)  # the last step's device work inside the trace
            self.stop()
            print(f"profile of steps {self.steps[0]}-{self.steps[1]} written to "
                  f"{self.directory}", flush=True)  # fmt: skip

    def stop(self) -> None:
        if self.active:
            jax.profiler.stop_trace()
            self.active = False


def enable_compilation_cache(setting, workdir: str) -> str | None:
    """Points JAX's persistent compilation cache at ``setting``'s directory (see the
    module docstring); returns the directory in use, or None."""
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return configured
    setting = "" if setting is None else str(setting)
    if setting == "auto":
        if fs.is_url(workdir):
            return None
        setting = fs.join(fs.absolute(workdir), "compilation_cache")
    if not setting:
        return None
    if not fs.is_url(setting):
        fs.makedirs(setting)
    jax.config.update("jax_compilation_cache_dir", setting)
    return setting
