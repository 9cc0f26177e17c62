"""Gather the public names of a package's topic modules (plots, widgets, exercises)."""

from __future__ import annotations

import importlib
import pkgutil


def collect(package: str, path, namespace: dict) -> list[str]:
    """Import every sub-module of ``package`` and copy the names in its ``__all__``.

    Two modules exporting the same name is an error: every helper has one home.
    """
    exported: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for name in getattr(module, "__all__", ()):
            if name in exported:
                raise ImportError(f"{package}: {name!r} is defined in both {exported[name]} and {info.name}")
            exported[name] = info.name
            namespace[name] = getattr(module, name)
    return sorted(exported)
