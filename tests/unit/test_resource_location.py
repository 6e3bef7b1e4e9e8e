"""The Resource-Location Table: ownership of list entries by message-generator-id."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mso.generators import MASTER_GENERATOR
from mso.namespaces import HARDWARE, INTERFACES, qn
from server.resource_location import OwnershipConflict, Resource, ResourceLocationTable

IF_LIST = (qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface"))
HW_LIST = (qn(HARDWARE, "hardware"), qn(HARDWARE, "component"))


def interface(name: str) -> Resource:
    return (IF_LIST, (name,))


def component(name: str) -> Resource:
    return (HW_LIST, (name,))


@pytest.fixture
def table() -> ResourceLocationTable:
    rlt = ResourceLocationTable()
    rlt.assign(MASTER_GENERATOR, [interface("mgmt0"), component("chassis")])
    rlt.assign("2", [interface("2/0/0"), interface("2/0/1"), component("line-card-2")])
    return rlt


def test_lookups(table: ResourceLocationTable) -> None:
    assert table.owner(interface("2/0/1")) == "2"
    assert table.owner(component("chassis")) == MASTER_GENERATOR
    assert table.owner(interface("9/0/0")) is None
    assert table.owner(((qn(INTERFACES, "elsewhere"),), ("x",))) is None
    assert table.owned_by("2") == {interface("2/0/0"), interface("2/0/1"), component("line-card-2")}
    assert table.owned_by("7") == frozenset()
    assert dict(table.entries(IF_LIST)) == {("mgmt0",): MASTER_GENERATOR, ("2/0/0",): "2", ("2/0/1",): "2"}
    assert dict(table.entries((qn(INTERFACES, "nothing"),))) == {}
    assert table.list_paths() == {IF_LIST, HW_LIST}
    assert table.generators() == {MASTER_GENERATOR, "2"}


def test_entries_is_a_read_only_live_view(table: ResourceLocationTable) -> None:
    view = table.entries(IF_LIST)
    table.assign("3", [interface("3/0/0")])
    assert view[("3/0/0",)] == "3"
    with pytest.raises(TypeError):
        view[("3/0/1",)] = "3"  # type: ignore[index]


def test_conflicting_assign_changes_nothing(table: ResourceLocationTable) -> None:
    before = table.version
    with pytest.raises(OwnershipConflict) as raised:
        table.assign("3", [interface("3/0/0"), interface("2/0/1"), component("chassis")])
    assert raised.value.conflicts == {interface("2/0/1"): "2", component("chassis"): MASTER_GENERATOR}
    assert raised.value.generator == "3"
    assert table.owner(interface("3/0/0")) is None
    assert table.version == before


def test_reassigning_to_the_same_owner_is_not_a_change(table: ResourceLocationTable) -> None:
    before = table.version
    table.assign("2", [interface("2/0/1")])
    assert table.version == before
    table.assign("2", [interface("2/0/1"), interface("2/0/2")])
    assert table.version == before + 1
    assert table.owner(interface("2/0/2")) == "2"


def test_release_some_then_all(table: ResourceLocationTable) -> None:
    before = table.version
    released = table.release("2", [interface("2/0/1"), interface("mgmt0"), interface("9/0/0")])
    assert released == [interface("2/0/1")]
    assert table.owner(interface("mgmt0")) == MASTER_GENERATOR
    assert table.version == before + 1
    assert table.release("2") == [interface("2/0/0"), component("line-card-2")]
    assert "2" not in table.generators()
    assert table.version == before + 2
    assert table.release("2") == []
    assert table.version == before + 2


def test_release_of_a_lists_last_entry_forgets_the_list(table: ResourceLocationTable) -> None:
    table.release(MASTER_GENERATOR, [component("chassis")])
    table.release("2", [component("line-card-2")])
    assert table.list_paths() == {IF_LIST}


def test_move(table: ResourceLocationTable) -> None:
    before = table.version
    assert table.move(interface("2/0/1"), "3") == "2"
    assert table.owner(interface("2/0/1")) == "3"
    assert interface("2/0/1") not in table.owned_by("2")
    assert table.owned_by("3") == {interface("2/0/1")}
    assert table.version == before + 1
    assert table.move(interface("2/0/1"), "3") == "3"
    assert table.version == before + 1
    with pytest.raises(KeyError):
        table.move(interface("9/0/0"), "3")


@pytest.mark.parametrize("bad", ["", "0", "02", "x", "-1", "1.0", "4294967296", "\u0663"])
def test_generator_ids_are_uint32_decimals(table: ResourceLocationTable, bad: str) -> None:
    with pytest.raises(ValueError):
        table.assign(bad, [interface("5/0/0")])
    with pytest.raises(ValueError):
        table.move(interface("2/0/0"), bad)
    assert table.owner(interface("5/0/0")) is None


_GENERATORS = st.sampled_from(["1", "2", "3", "10"])
_RESOURCES = st.builds(lambda lst, name: (lst, (name,)), st.sampled_from([IF_LIST, HW_LIST]),
                       st.sampled_from(["a", "b", "c", "d"]))
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), _GENERATORS, st.lists(_RESOURCES, max_size=3)),
        st.tuples(st.just("release"), _GENERATORS, st.none() | st.lists(_RESOURCES, max_size=3)),
        st.tuples(st.just("move"), _GENERATORS, _RESOURCES),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(_OPERATIONS)
def test_views_agree_with_a_plain_model(operations: list[tuple]) -> None:
    """Any sequence of operations: every view matches a dict model, and the version moves
    exactly when the model does."""
    table = ResourceLocationTable()
    model: dict[Resource, str] = {}
    for operation, generator, argument in operations:
        before_model, before_version = dict(model), table.version
        if operation == "assign":
            if any(model.get(r, generator) != generator for r in argument):
                with pytest.raises(OwnershipConflict):
                    table.assign(generator, argument)
            else:
                table.assign(generator, argument)
                model.update((r, generator) for r in argument)
        elif operation == "release":
            released = table.release(generator, argument)
            gone = {r for r, owner in model.items() if owner == generator
                    and (argument is None or r in argument)}
            assert set(released) == gone and len(released) == len(gone)
            for resource in gone:
                del model[resource]
        elif argument in model:
            assert table.move(argument, generator) == model[argument]
            model[argument] = generator
        else:
            with pytest.raises(KeyError):
                table.move(argument, generator)
        assert (table.version != before_version) == (model != before_model)
        assert_matches(table, model)


def assert_matches(table: ResourceLocationTable, model: dict[Resource, str]) -> None:
    for resource, owner in model.items():
        assert table.owner(resource) == owner
    assert table.generators() == set(model.values())
    for generator in table.generators():
        assert table.owned_by(generator) == {r for r, owner in model.items() if owner == generator}
    assert table.list_paths() == {list_path for list_path, _ in model}
    for list_path in table.list_paths():
        assert dict(table.entries(list_path)) == {k: o for (lp, k), o in model.items() if lp == list_path}
