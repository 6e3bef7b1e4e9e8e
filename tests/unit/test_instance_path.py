"""Instance paths: the XPath form with prefixes and the RFC 8040 form, read and written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mso.instance_path import (InstancePathError, Step, TargetStep, parse_instance_path, parse_restconf_target,
                               path_steps, restconf_target, xpath_literal)

IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
MODULES = {IF: "ietf-interfaces"}


def test_steps_split_outside_quotes_and_predicates() -> None:
    assert path_steps("/if:interfaces/if:interface[if:name='1/0/1']/if:mtu") == [
        "if:interfaces", "if:interface[if:name='1/0/1']", "if:mtu"]


def test_a_keyed_path_is_read_step_by_step() -> None:
    steps = parse_instance_path("/if:interfaces/if:interface[if:name = '2/0/7']/if:mtu")
    assert steps == [Step("if", "interfaces"), Step("if", "interface", (("if:name", "2/0/7"),)), Step("if", "mtu")]


def test_leaf_list_entries_and_unprefixed_names_are_read() -> None:
    assert parse_instance_path("/a/b[.=\"x y\"]") == [Step("", "a"), Step("", "b", ((".", "x y"),))]


@pytest.mark.parametrize("value", ["plain", "it's", 'say "hi"', "both ' and \""])
def test_literals_read_back_whatever_quotes_they_hold(value: str) -> None:
    steps = parse_instance_path(f"/p:list[p:key={xpath_literal(value)}]")
    assert steps[0].predicates == (("p:key", value),)


@pytest.mark.parametrize("path", ["", "relative/x", "//p:x", "/p:x[1]", "/p:x[p:k=$v]", "/p:x[p:k='a'", "/p:x/..",
                                  "/p:count(x)", "/p:x[p:k='a']junk"])
def test_anything_but_an_instance_path_is_refused(path: str) -> None:
    with pytest.raises(InstancePathError):
        parse_instance_path(path)


def test_restconf_targets_name_a_module_where_it_changes_and_encode_keys() -> None:
    path = "/if:interfaces/if:interface[if:name='1/0/1']/if:mtu"
    assert restconf_target(path, {"if": IF}, MODULES) == "/ietf-interfaces:interfaces/interface=1%2F0%2F1/mtu"


def test_restconf_targets_are_read_with_their_keys() -> None:
    assert parse_restconf_target("/ietf-interfaces:interfaces/interface=1%2F0%2F1,x/mtu") == [
        TargetStep("ietf-interfaces", "interfaces"), TargetStep(None, "interface", ("1/0/1", "x")),
        TargetStep(None, "mtu")]


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_any_key_value_survives_both_spellings(value: str) -> None:
    path = f"/if:interfaces/if:interface[if:name={xpath_literal(value)}]"
    assert parse_instance_path(path)[1].predicates == (("if:name", value),)
    target = restconf_target(path, {"if": IF}, MODULES)
    assert parse_restconf_target(target)[1].keys == (value,)
