"""All defaults of carpet, as frozen dataclasses validated on construction.

One section per stage; every threshold, cut-off and formula variant is a named
parameter here (methods.md: "never a hard-coded literal"). Config files (TOML)
map onto these dataclasses and unknown keys are errors (:func:`from_mapping`).
The resolved configuration is written into every output's provenance.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from carpet.errors import ConfigError

__all__ = ["from_mapping", "to_dict"]

T = TypeVar("T")


def from_mapping(cls: type[T], mapping: dict[str, Any], *, source: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys are a :class:`ConfigError`.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class C:
    ...     a: int = 1
    >>> from_mapping(C, {"a": 2})
    C(a=2)
    >>> from_mapping(C, {"b": 2})
    Traceback (most recent call last):
    ...
    carpet.errors.ConfigError: config: unknown key(s) ['b'] for C; known: ['a']
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(names)}",
            code="UNKNOWN_CONFIG_KEY",
        )
    return cls(**mapping)


def to_dict(config: Any) -> dict[str, Any]:
    """Resolved configuration as plain JSON-able data (for provenance)."""
    return dataclasses.asdict(config)


# ----------------------------------------------------------------------------- SUV (ingest/suv)

# ----------------------------------------------------------------------------- segmentation/measurement (analyze)

# ----------------------------------------------------------------------------- cohort statistics

# ----------------------------------------------------------------------------- batch

# ----------------------------------------------------------------------------- response
