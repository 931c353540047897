"""Loads ``configs/*.py`` files and applies ``--config.a.b=value`` overrides.

A config file defines ``get_config(arg=None) -> ml_collections.ConfigDict``; the command
line names it as ``path/to/config.py`` or ``path/to/config.py:arg``. Overrides keep the
type of the field they replace (ints stay ints, tuples stay tuples) and unknown keys
are rejected with the list of keys that do exist at that level.

Why not ``ml_collections.config_flags``: it is built on absl flags, one global ``FLAGS``
parsed once from ``sys.argv``. siamjax's command has argparse subcommands, takes a
config in some and not others, and is called in-process as ``main(argv)`` many times (by
the tests, the quickstart, ``data_prep/`` scripts); the ~100 lines here give the same
``--config path.py:arg --config.a.b=value`` syntax without a process-global flag state,
with errors that name the key and the keys that do exist.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence

import ml_collections


class ConfigError(ValueError):
    """A config file that cannot be loaded or an override that does not apply."""


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Loads ``path.py`` or ``path.py:arg`` and returns ``get_config([arg])``."""
    path, _, arg = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    module_name = "siamjax_config_" + os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:  # a config with a bug: say which file
        raise ConfigError(f"error while importing config {path}: {error!r}") from error
    if not hasattr(module, "get_config"):
        raise ConfigError(f"config {path} defines no get_config()")
    config = module.get_config(arg) if arg else module.get_config()
    return config


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]):
    """Applies ``'a.b.c=value'`` strings in order; returns ``config`` (modified in place)."""
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep:
            raise ConfigError(f"override {override!r} is not of the form key=value")
        parent, leaf = _resolve_parent(config, key)
        current = parent[leaf]
        value = _parse_value(text, current, key)
        with parent.unlocked() if hasattr(parent, "unlocked") else contextlib.nullcontext():
            parent[leaf] = value
    return config


def split_config_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separates ``--config.a.b=v`` / ``--config.a.b v`` tokens from the other arguments.

    Returns (remaining argv, override strings 'a.b=v').
    """
    remaining, overrides = [], []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token.startswith("--config."):
            body = token[len("--config.") :]
            if "=" not in body:
                if index + 1 >= len(argv):
                    raise ConfigError(f"{token} needs a value")
                body = f"{body}={argv[index + 1]}"
                index += 1
            overrides.append(body)
        else:
            remaining.append(token)
        index += 1
    return remaining, overrides


def _resolve_parent(config, key: str):
    parts = key.split(".")
    node = config
    for depth, part in enumerate(parts):
        if isinstance(node, (list, tuple)):  # list items by index, e.g. input.datasets.0.path
            if not (part.isdigit() and int(part) < len(node)):
                where = ".".join(parts[:depth])
                raise ConfigError(
                    f"unknown config key {key!r}: {where} is a list of {len(node)} items"
                )
            if depth == len(parts) - 1:
                return node, int(part)
            node = node[int(part)]
            continue
        if not _has_key(node, part):
            known = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else "(not a dict)"
            where = ".".join(parts[:depth]) or "config"
            raise ConfigError(f"unknown config key {key!r}: {where} has keys: {known}")
        if depth == len(parts) - 1:
            return node, part
        node = node[part]
    raise ConfigError(f"empty config key in override {key!r}")


def _has_key(node, part: str) -> bool:
    return hasattr(node, "keys") and part in node.keys()


def _parse_value(text: str, current, key: str):
    if isinstance(current, bool):
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ConfigError(f"--config.{key}: expected true/false, got {text!r}")
    if isinstance(current, str) or current is None:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return value if current is None or isinstance(value, str) else text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise ConfigError(f"--config.{key}: cannot parse {text!r}") from error
    if isinstance(current, (tuple, list)):
        value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        return type(current)(value)
    if isinstance(current, float) and isinstance(value, int):
        return float(value)
    if isinstance(current, int) and not isinstance(value, int):
        raise ConfigError(f"--config.{key}: expected an int, got {text!r}")
    return value


def sibling_config(config_file: str, name: str) -> ml_collections.ConfigDict:
    """``get_config()`` of ``name`` in the folder of ``config_file`` (configs building on others).

    Loading by path keeps ``configs/`` usable from any working directory.
    """
    return load_config(os.path.join(os.path.dirname(os.path.abspath(config_file)), name))
