"""Reading settings from an environment mapping: one set of rules for every component's
``load_settings(env)``, so a bad value is reported the same way everywhere (naming the variable)."""

from __future__ import annotations

from typing import Mapping

__all__ = ["SettingsError", "number", "choice", "flag"]


class SettingsError(ValueError):
    """A setting is missing or out of range; the message names the variable."""


def number(env: Mapping[str, str], name: str, default: float, low: float, high: float,
           integer: bool = False) -> float:
    """``env[name]`` as a number within [low, high]; ``default`` when unset or blank."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be {'an integer' if integer else 'a number'}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: must be between {low:g} and {high:g}, got {raw}")
    return value


def choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    if raw not in allowed:
        raise SettingsError(f"{name}: must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: must be 1 or 0 (true/false), got {env[name]!r}")
