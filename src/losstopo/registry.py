"""Named plugins, each name once: the problems the analysis stages rebuild checkpoints with,
and the problems the workflow plans."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    name: str


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Objects by their ``name``, in order of registration."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def add(self, item: T) -> T:
        """Register ``item``; a second object of the same name is an error."""
        if item.name in self._items:
            raise ValueError(f"{self.what} {item.name!r} registered twice")
        self._items[item.name] = item
        return item

    def get(self, name: str) -> T:
        """The object named ``name``, with a clear error listing the known ones."""
        from losstopo.errors import LosstopoError

        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise LosstopoError(f"unknown {self.what} {name!r} (known: {known})") from None

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def values(self) -> list[T]:
        return list(self._items.values())

    def copy(self) -> Registry[T]:
        """A registry holding the same objects (to register more without touching this one)."""
        other: Registry[T] = Registry(self.what)
        other._items = dict(self._items)
        return other
