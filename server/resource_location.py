"""The Resource-Location Table (draft-zhou-netconf-multi-stream-originators §5).

It records which stream originator (message-generator-id) serves which list entries of the
device's data, e.g. ``/if:interfaces/if:interface[if:name='2/0/7']`` -> ``"2"``.  Everything
outside the table's entries is the Master's.  For a list the table knows, the table is the
complete set of its entries: the Master registers its own entries (chassis, main board, mgmt0)
to ``"1"`` like any agent, and an entry nobody registered is taken not to exist.  That is what
lets the decomposer answer "nobody" for a filter on an unknown key instead of "the Master".

Pure data structure: no I/O, no asyncio.  Lookups are dictionary lookups; each list has its own
dictionary so that one list's entries can be read without scanning the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from mso.generators import LAST_PUBLISHER_ID

Resource = tuple[tuple[str, ...], tuple[str, ...]]
"""A list entry: (schema path of the list in Clark names, its key values in key order)."""


class OwnershipConflict(ValueError):
    """Resources asked for by one generator are already owned by others."""

    def __init__(self, generator: str, conflicts: Mapping[Resource, str]) -> None:
        sample = ", ".join(f"{_describe(resource)} (owned by {owner})"
                           for resource, owner in list(conflicts.items())[:3])
        more = f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
        super().__init__(f"generator {generator} cannot take {sample}{more}")
        self.generator = generator
        self.conflicts = dict(conflicts)


def _describe(resource: Resource) -> str:
    list_path, key_values = resource
    return f"{list_path[-1]}{list(key_values)}"


def _check_generator(generator: str) -> None:
    """Reject what is not a message-generator-id: the canonical decimal of a uint32 above 0."""
    if not (generator.isascii() and generator.isdigit() and generator[0] != "0"
            and int(generator) <= LAST_PUBLISHER_ID):
        raise ValueError(f"{generator!r} is not a message-generator-id")


class ResourceLocationTable:
    """Which originator owns which list entries (draft §5: the RLT). Anything not in the table is the Master's."""

    def __init__(self) -> None:
        self._lists: dict[tuple[str, ...], dict[tuple[str, ...], str]] = {}
        # Per generator, its resources in assignment order (a dict used as an ordered set).
        self._owned: dict[str, dict[Resource, None]] = {}
        self._version = 0

    @property
    def version(self) -> int:
        """Increments on every change, so users can cache what they derive from the table."""
        return self._version

    def assign(self, generator: str, resources: Iterable[Resource]) -> None:
        """Give ``resources`` to ``generator``; already owning them is fine.

        Raises :class:`OwnershipConflict`, leaving the table unchanged, when another
        generator owns any of them (ownership moves only through :meth:`move`).
        """
        _check_generator(generator)
        wanted = list(dict.fromkeys(resources))
        conflicts = {r: owner for r in wanted if (owner := self.owner(r)) not in (None, generator)}
        if conflicts:
            raise OwnershipConflict(generator, conflicts)
        added = [resource for resource in wanted if self.owner(resource) is None]
        for resource in added:
            self._put(resource, generator)
        if added:
            self._version += 1

    def release(self, generator: str, resources: Iterable[Resource] | None = None) -> list[Resource]:
        """Forget ``generator``'s ownership of ``resources`` (None: of all it owns).

        Resources the generator does not own are left alone; returns those released.
        """
        owned = self._owned.get(generator, {})
        chosen = list(owned) if resources is None else [r for r in dict.fromkeys(resources) if r in owned]
        for resource in chosen:
            self._remove(resource)
        if chosen:
            self._version += 1
        return chosen

    def move(self, resource: Resource, to_generator: str) -> str:
        """Hand an owned resource to ``to_generator``; returns the previous owner.

        Raises KeyError when nobody owns ``resource``.
        """
        _check_generator(to_generator)
        previous = self.owner(resource)
        if previous is None:
            raise KeyError(resource)
        if previous != to_generator:
            self._remove(resource)
            self._put(resource, to_generator)
            self._version += 1
        return previous

    def owner(self, resource: Resource) -> str | None:
        list_path, key_values = resource
        entries = self._lists.get(list_path)
        return entries.get(key_values) if entries is not None else None

    def owned_by(self, generator: str) -> frozenset[Resource]:
        return frozenset(self._owned.get(generator, ()))

    def entries(self, list_path: tuple[str, ...]) -> Mapping[tuple[str, ...], str]:
        """Key values -> owner for one list: a read-only live view, not a copy."""
        return MappingProxyType(self._lists.get(list_path, {}))

    def list_paths(self) -> frozenset[tuple[str, ...]]:
        """The lists with at least one entry in the table."""
        return frozenset(self._lists)

    def generators(self) -> frozenset[str]:
        """Every generator owning at least one resource."""
        return frozenset(self._owned)

    def _put(self, resource: Resource, generator: str) -> None:
        list_path, key_values = resource
        self._lists.setdefault(list_path, {})[key_values] = generator
        self._owned.setdefault(generator, {})[resource] = None

    def _remove(self, resource: Resource) -> None:
        """Drop an owned resource, and the per-list and per-generator maps it leaves empty."""
        list_path, key_values = resource
        entries = self._lists[list_path]
        generator = entries.pop(key_values)
        if not entries:
            del self._lists[list_path]
        owned = self._owned[generator]
        del owned[resource]
        if not owned:
            del self._owned[generator]
