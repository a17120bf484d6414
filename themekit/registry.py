"""One registry for pluggable parts chosen by name in config (embedders, readers, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from themekit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of factories. ``get`` names the available entries when a name is unknown."""

    def __init__(self, kind: str, config_key: str):
        self.kind = kind
        self.config_key = config_key
        self._items: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = factory
            return factory

        return deco

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._items[name]
        except KeyError:
            avail = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(
                f"unknown {self.kind} {name!r}; available: {avail}", key=self.config_key
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
