"""A tiny name -> constructor registry, so variants are chosen by name from config.

Backbones, correlation functions and RPN heads register themselves here with
``@register(kind, name)``; ``lookup(kind, name)`` returns the object or fails with the
list of known names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_REGISTRY: dict[str, dict[str, Any]] = {}
_GENERATION = [0]  # bumped by every registration (caches of built things key on it)


def register(kind: str, name: str) -> Callable[[Any], Any]:
    """Decorator that registers ``obj`` under ``(kind, name)``.

    Re-registering the same name replaces the earlier entry, so a researcher can
    redefine a variant in a notebook without restarting.
    """

    def decorator(obj: Any) -> Any:
        _REGISTRY.setdefault(kind, {})[name] = obj
        _GENERATION[0] += 1
        return obj

    return decorator


def lookup(kind: str, name: str) -> Any:
    """Returns the object registered as ``(kind, name)``.

    Raises:
      KeyError: with the list of known names of that kind.
    """
    entries = _REGISTRY.get(kind, {})
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise KeyError(f"unknown {kind} {name!r}; known {kind} names: {known}")
    return entries[name]


def names(kind: str) -> list[str]:
    """Sorted names registered under ``kind``."""
    return sorted(_REGISTRY.get(kind, {}))


def generation() -> int:
    """How many registrations have happened: a cache of things built from registered
    names (compiled functions of a model) keys on it, so a redefined variant is used."""
    return _GENERATION[0]
