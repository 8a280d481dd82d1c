"""Named strategies (scorers, allocations): one class and one name each.

A registry maps a ``sniper_conf`` value to the class that implements it, and refuses an
unknown value with the known ones listed, so that configs, the command line and the code
all take their choices from one place.
"""

from typing import Callable, Dict, Generic, Iterator, List, Type, TypeVar

T = TypeVar("T")


class UnknownName(ValueError):
    """A name that no strategy of a registry was registered under."""


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind  # what the names choose, as the sniper_conf key says it
        self._classes: Dict[str, Type[T]] = {}

    def register(self, name: str) -> Callable[[Type[T]], Type[T]]:
        """Class decorator: make the class the strategy called ``name``."""

        def add(cls: Type[T]) -> Type[T]:
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._classes[name] = cls
            return cls

        return add

    def names(self) -> List[str]:
        """The known names, in the order they were registered."""
        return list(self._classes)

    def build(self, name: str) -> T:
        """A new instance of the strategy called ``name``."""
        if name not in self._classes:
            raise UnknownName(f"{self.kind} must be one of {self.names()}, got {name!r}")
        return self._classes[name]()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)
