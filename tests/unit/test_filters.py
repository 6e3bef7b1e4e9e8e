"""Subtree filters (RFC 6241 §6), XPath filters (RFC 6241 §8.9) and tree merging."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from mso.filters import (
    FilterError,
    KeyIndex,
    compile_xpath,
    merge_into,
    selected_keys,
    subtree_filter,
    xpath_filter,
)
from mso.namespaces import HARDWARE, INTERFACES, NETCONF_BASE, qn

IF = {"if": INTERFACES}
HW = {"hw": HARDWARE}
IF_HW = IF | HW

KEYS: KeyIndex = {
    (qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface")): (qn(INTERFACES, "name"),),
    (qn(HARDWARE, "hardware"), qn(HARDWARE, "component")): (qn(HARDWARE, "name"),),
}

DATA = f"""
<data xmlns="{NETCONF_BASE}">
  <interfaces xmlns="{INTERFACES}"
              xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">
    <interface>
      <name>eth0</name>
      <type>ianaift:ethernetCsmacd</type>
      <admin-status>up</admin-status>
      <oper-status>up</oper-status>
      <speed>10000000000</speed>
      <statistics>
        <discontinuity-time>2024-05-01T10:00:00Z</discontinuity-time>
        <in-octets>81920</in-octets>
        <out-octets>40960</out-octets>
      </statistics>
    </interface>
    <interface>
      <name>eth1</name>
      <type>ianaift:ethernetCsmacd</type>
      <admin-status>up</admin-status>
      <oper-status>down</oper-status>
      <statistics>
        <discontinuity-time>2024-05-01T10:00:00Z</discontinuity-time>
        <in-octets>0</in-octets>
        <out-octets>12</out-octets>
      </statistics>
    </interface>
    <interface>
      <name>lo</name>
      <type>ianaift:softwareLoopback</type>
      <admin-status>up</admin-status>
      <oper-status>up</oper-status>
      <statistics>
        <discontinuity-time>2024-05-01T10:00:00Z</discontinuity-time>
        <in-octets>512</in-octets>
        <out-octets>512</out-octets>
      </statistics>
    </interface>
  </interfaces>
  <hardware xmlns="{HARDWARE}"
            xmlns:ianahw="urn:ietf:params:xml:ns:yang:iana-hardware">
    <last-change>2024-05-01T10:00:00Z</last-change>
    <component>
      <name>chassis</name>
      <class>ianahw:chassis</class>
      <contains-child>lc0</contains-child>
      <contains-child>lc1</contains-child>
      <serial-num>CH-0001</serial-num>
    </component>
    <component>
      <name>lc0</name>
      <class>ianahw:module</class>
      <parent>chassis</parent>
      <parent-rel-pos>0</parent-rel-pos>
      <contains-child>eth0</contains-child>
      <contains-child>eth1</contains-child>
    </component>
    <component>
      <name>lc1</name>
      <class>ianahw:module</class>
      <parent>chassis</parent>
      <parent-rel-pos>1</parent-rel-pos>
    </component>
    <component>
      <name>eth0</name>
      <class>ianahw:port</class>
      <parent>lc0</parent>
      <parent-rel-pos>0</parent-rel-pos>
    </component>
    <component>
      <name>eth1</name>
      <class>ianahw:port</class>
      <parent>lc0</parent>
      <parent-rel-pos>1</parent-rel-pos>
    </component>
  </hardware>
</data>
"""


def xml(text: str) -> etree._Element:
    return etree.fromstring(text)


def data() -> etree._Element:
    return xml(DATA)


def canon(element: etree._Element) -> str:
    """Prefix- and layout-independent text form, one element per line, for exact compares."""
    lines: list[str] = []

    def walk(node: etree._Element, depth: int) -> None:
        text = (node.text or "").strip()
        attrs = "".join(f" @{k}={v}" for k, v in sorted(node.attrib.items()))
        lines.append(f"{'  ' * depth}{node.tag}{attrs}" + (f" = {text}" if text else ""))
        for child in node:
            if isinstance(child.tag, str):
                walk(child, depth + 1)

    walk(element, 0)
    return "\n".join(lines)


def expect(body: str) -> str:
    """Canonical form of the expected result: ``body`` inside the NETCONF <data> element."""
    return canon(xml(f'<data xmlns="{NETCONF_BASE}">{body}</data>'))


def filter_children(body: str) -> list[etree._Element]:
    """The children of ``<filter type="subtree">body</filter>`` as the server sees them."""
    return list(xml(f'<filter xmlns="{NETCONF_BASE}" type="subtree">{body}</filter>'))


def subtree(body: str, source: etree._Element | None = None, keys: KeyIndex = KEYS) -> str:
    return canon(subtree_filter(data() if source is None else source, filter_children(body), keys))


def xpath(expression: str, namespaces: dict[str, str] = IF_HW) -> str:
    return canon(xpath_filter(data(), expression, namespaces, KEYS))


def interfaces(body: str) -> str:
    return f'<interfaces xmlns="{INTERFACES}">{body}</interfaces>'


def hardware(body: str) -> str:
    return f'<hardware xmlns="{HARDWARE}">{body}</hardware>'


def whole_interface(name: str) -> str:
    """The data's interface entry ``name``, as it appears in DATA."""
    entry = data().find(f"{{{INTERFACES}}}interfaces/{{{INTERFACES}}}interface[{{{INTERFACES}}}name='{name}']")
    return etree.tostring(entry).decode()


# ------------------------------------------------------------------------------ subtree


class TestSubtreeFilter:
    def test_empty_filter_selects_nothing(self) -> None:
        assert subtree("") == expect("")
        assert subtree("\n   \n") == expect("")

    def test_selection_node_selects_the_whole_subtree_and_nothing_else(self) -> None:
        everything = data()
        expected = etree.tostring(everything[0]).decode()
        assert subtree(interfaces("")) == expect(expected)

    def test_several_top_level_subtrees_form_one_sibling_set(self) -> None:
        assert subtree(interfaces("") + hardware("")) == canon(data())

    def test_namespace_must_match(self) -> None:
        assert subtree('<interfaces xmlns="urn:example:other"/>') == expect("")

    def test_unqualified_filter_node_matches_any_namespace(self) -> None:
        assert subtree('<hardware xmlns=""><last-change/></hardware>') == expect(
            hardware("<last-change>2024-05-01T10:00:00Z</last-change>")
        )

    def test_unknown_node_selects_nothing(self) -> None:
        assert subtree(f'<routing xmlns="{INTERFACES}"/>') == expect("")

    def test_containment_and_selection_include_list_keys(self) -> None:
        got = subtree(interfaces("<interface><oper-status/></interface>"))
        assert got == expect(
            interfaces(
                "<interface><name>eth0</name><oper-status>up</oper-status></interface>"
                "<interface><name>eth1</name><oper-status>down</oper-status></interface>"
                "<interface><name>lo</name><oper-status>up</oper-status></interface>"
            )
        )

    def test_selection_of_nested_container_leaf(self) -> None:
        got = subtree(interfaces("<interface><statistics><in-octets/></statistics></interface>"))
        assert got == expect(
            interfaces(
                "<interface><name>eth0</name><statistics><in-octets>81920</in-octets></statistics></interface>"
                "<interface><name>eth1</name><statistics><in-octets>0</in-octets></statistics></interface>"
                "<interface><name>lo</name><statistics><in-octets>512</in-octets></statistics></interface>"
            )
        )

    def test_only_content_match_selects_the_whole_instance(self) -> None:
        got = subtree(interfaces("<interface><name>eth1</name></interface>"))
        assert got == expect(interfaces(whole_interface("eth1")))

    def test_content_match_with_selection_selects_those_siblings(self) -> None:
        got = subtree(interfaces("<interface><name>eth0</name><statistics/></interface>"))
        statistics = data().find(f".//{{{INTERFACES}}}statistics")
        assert got == expect(
            interfaces(f"<interface><name>eth0</name>{etree.tostring(statistics).decode()}</interface>")
        )

    def test_content_match_on_non_key_still_includes_key(self) -> None:
        got = subtree(interfaces("<interface><oper-status>down</oper-status><admin-status/></interface>"))
        assert got == expect(
            interfaces(
                "<interface><name>eth1</name><admin-status>up</admin-status>"
                "<oper-status>down</oper-status></interface>"
            )
        )

    def test_sibling_content_matches_are_anded(self) -> None:
        got = subtree(interfaces("<interface><admin-status>up</admin-status><oper-status>up</oper-status></interface>"))
        assert got == expect(interfaces(whole_interface("eth0") + whole_interface("lo")))
        assert subtree(interfaces("<interface><name>eth0</name><oper-status>down</oper-status></interface>")) == expect("")

    def test_false_content_match_prunes_the_whole_sibling_set(self) -> None:
        body = interfaces("<interface><name>eth9</name><statistics/><oper-status/></interface>")
        assert subtree(body) == expect("")

    def test_nested_content_match_failing_keeps_the_outer_content_match(self) -> None:
        # §6.2.5: the content match node <name> is output; the containment node
        # <statistics> is only output if its own criteria hold, and they do not here.
        body = interfaces(
            "<interface><name>eth0</name><statistics><in-octets>5</in-octets></statistics></interface>"
        )
        assert subtree(body) == expect(interfaces("<interface><name>eth0</name></interface>"))

    def test_containment_that_selects_nothing_drops_the_instance(self) -> None:
        body = interfaces("<interface><statistics><in-errors/></statistics></interface>")
        assert subtree(body) == expect("")

    def test_whitespace_in_a_pretty_printed_filter_is_ignored(self) -> None:
        body = f"""
          <interfaces xmlns="{INTERFACES}">
            <interface>
              <name>
                 eth1
              </name>
              <oper-status>
              </oper-status>
            </interface>
          </interfaces>
        """
        assert subtree(body) == expect(
            interfaces("<interface><name>eth1</name><oper-status>down</oper-status></interface>")
        )

    def test_comments_in_the_filter_are_ignored(self) -> None:
        body = interfaces("<!-- just eth1 --><interface><name>eth1</name><!-- x --><type/></interface>")
        assert subtree(body) == expect(
            interfaces("<interface><name>eth1</name><type>ianaift:ethernetCsmacd</type></interface>")
        )

    def test_leaf_list_content_match_selects_only_the_matching_value(self) -> None:
        got = subtree(hardware("<component><contains-child>lc1</contains-child><serial-num/></component>"))
        assert got == expect(
            hardware(
                "<component><name>chassis</name><contains-child>lc1</contains-child>"
                "<serial-num>CH-0001</serial-num></component>"
            )
        )

    def test_leaf_list_content_match_alone_selects_the_instance(self) -> None:
        got = subtree(hardware("<component><contains-child>eth1</contains-child></component>"))
        lc0 = data().find(f".//{{{HARDWARE}}}component[{{{HARDWARE}}}name='lc0']")
        assert got == expect(hardware(etree.tostring(lc0).decode()))

    def test_realistic_hardware_filter(self) -> None:
        got = subtree(hardware("<component><parent>lc0</parent><parent-rel-pos/></component>"))
        assert got == expect(
            hardware(
                "<component><name>eth0</name><parent>lc0</parent><parent-rel-pos>0</parent-rel-pos></component>"
                "<component><name>eth1</name><parent>lc0</parent><parent-rel-pos>1</parent-rel-pos></component>"
            )
        )

    def test_two_filters_for_the_same_entry_are_united_in_data_order(self) -> None:
        body = interfaces(
            "<interface><name>eth0</name><oper-status/></interface>"
            "<interface><name>eth0</name><type/></interface>"
        )
        assert subtree(body) == expect(
            interfaces(
                "<interface><name>eth0</name><type>ianaift:ethernetCsmacd</type>"
                "<oper-status>up</oper-status></interface>"
            )
        )

    def test_overlapping_filters_do_not_duplicate_data(self) -> None:
        body = interfaces("") + interfaces("<interface><name>lo</name></interface>")
        assert subtree(body) == expect(etree.tostring(data()[0]).decode())

    def test_attribute_match_excludes_yang_data_which_has_no_attributes(self) -> None:
        body = interfaces('<interface xmlns:t="urn:example:t" t:ifName="eth0"/>')
        assert subtree(body) == expect("")

    def test_attribute_match_compares_values_when_data_has_attributes(self) -> None:
        source = xml('<data><top xmlns="urn:t"><item id="1">a</item><item id="2">b</item></top></data>')
        got = subtree('<top xmlns="urn:t"><item id="2"/></top>', source, {})
        assert got == canon(xml('<data><top xmlns="urn:t"><item id="2">b</item></top></data>'))

    def test_mixed_content_is_rejected(self) -> None:
        with pytest.raises(FilterError) as raised:
            subtree(interfaces("<interface>eth0<name/></interface>"))
        assert raised.value.error_tag == "invalid-value"

    def test_input_is_not_modified_and_output_is_a_copy(self) -> None:
        source = data()
        before = etree.tostring(source)
        result = subtree_filter(source, filter_children(interfaces("<interface><name>lo</name></interface>")), KEYS)
        assert etree.tostring(source) == before
        assert result is not source and result.tag == source.tag
        assert all(node.getroottree().getroot() is result for node in result.iter())

    def test_output_keeps_the_data_prefixes(self) -> None:
        result = subtree_filter(data(), filter_children(interfaces("<interface><oper-status/></interface>")), KEYS)
        assert b"ns0:" not in etree.tostring(result)
        assert result[0].nsmap[None] == INTERFACES

    def test_large_list_is_filtered_by_key(self) -> None:
        entries = "".join(
            f"<interface><name>ge-{n}</name><mtu>{1500 + n % 7}</mtu></interface>" for n in range(3000)
        )
        source = xml(f'<data xmlns="{NETCONF_BASE}">{interfaces(entries)}</data>')
        got = subtree(interfaces("<interface><name>ge-2999</name></interface>"), source)
        assert got == expect(interfaces("<interface><name>ge-2999</name><mtu>1503</mtu></interface>"))


# ------------------------------------------------------------------------------ XPath


class TestXPathFilter:
    def test_absolute_path_with_key_predicate(self) -> None:
        got = xpath("/if:interfaces/if:interface[if:name='eth0']")
        assert got == expect(interfaces(whole_interface("eth0")))

    def test_descendant_path_selects_every_match_with_ancestors(self) -> None:
        got = xpath("//if:name")
        assert got == expect(
            interfaces(
                "<interface><name>eth0</name></interface>"
                "<interface><name>eth1</name></interface>"
                "<interface><name>lo</name></interface>"
            )
        )

    def test_ancestor_list_entries_carry_their_keys(self) -> None:
        got = xpath("/if:interfaces/if:interface/if:statistics/if:out-octets")
        assert got == expect(
            interfaces(
                "<interface><name>eth0</name><statistics><out-octets>40960</out-octets></statistics></interface>"
                "<interface><name>eth1</name><statistics><out-octets>12</out-octets></statistics></interface>"
                "<interface><name>lo</name><statistics><out-octets>512</out-octets></statistics></interface>"
            )
        )

    def test_text_nodes_select_their_element(self) -> None:
        assert xpath("/if:interfaces/if:interface/if:oper-status/text()") == xpath(
            "/if:interfaces/if:interface/if:oper-status"
        )

    def test_formatting_whitespace_and_comments_are_not_data(self) -> None:
        assert xpath("/if:interfaces/text()") == expect("")
        source = xml('<data><t xmlns="urn:t"><!-- note --><v>1</v></t></data>')
        assert canon(xpath_filter(source, "//comment()", {}, {})) == canon(xml("<data/>"))

    def test_union_across_top_level_nodes(self) -> None:
        got = xpath("/if:interfaces/if:interface[if:name='lo']/if:type | /hw:hardware/hw:last-change")
        assert got == expect(
            interfaces("<interface><name>lo</name><type>ianaift:softwareLoopback</type></interface>")
            + hardware("<last-change>2024-05-01T10:00:00Z</last-change>")
        )

    def test_predicate_can_refer_to_another_top_level_node(self) -> None:
        got = xpath(
            "/hw:hardware/hw:component[hw:name = /if:interfaces/if:interface[if:oper-status='down']/if:name]"
            "/hw:parent"
        )
        assert got == expect(hardware("<component><name>eth1</name><parent>lc0</parent></component>"))

    @pytest.mark.parametrize("expression", ["/", "/*", "//*", "//node()", "/if:interfaces/.."])
    def test_selecting_the_root_or_all_top_nodes_returns_all_data(self, expression: str) -> None:
        assert xpath(expression) == canon(data())

    def test_relative_expression_starts_at_the_root(self) -> None:
        assert xpath("hw:hardware/hw:last-change") == xpath("/hw:hardware/hw:last-change")

    def test_data_nested_in_a_reply_is_its_own_root(self) -> None:
        reply = xml(f'<rpc-reply xmlns="{NETCONF_BASE}">{DATA}<ok/></rpc-reply>')
        nested = reply[0]
        assert canon(xpath_filter(nested, "/if:interfaces", IF, KEYS)) == expect(
            etree.tostring(data()[0]).decode()
        )
        assert canon(xpath_filter(nested, "/..", IF, KEYS)) == expect("")

    def test_default_namespace_is_ignored(self) -> None:
        got = xpath_filter(data(), "/hw:hardware/hw:last-change", {None: INTERFACES, **HW}, KEYS)  # type: ignore[dict-item]
        assert canon(got) == expect(hardware("<last-change>2024-05-01T10:00:00Z</last-change>"))

    @pytest.mark.parametrize(
        "expression",
        ["count(/if:interfaces/if:interface)", "string(//if:name)", "/if:interfaces and true()", "42"],
    )
    def test_non_node_set_is_invalid_value(self, expression: str) -> None:
        with pytest.raises(FilterError) as raised:
            xpath(expression)
        assert raised.value.error_tag == "invalid-value"
        assert "node-set" in raised.value.error_message

    @pytest.mark.parametrize(
        "expression",
        ["/if:interfaces[", "/x:interfaces", "/if:interfaces[x:name='a']", "current()", "$peer/if:name", "//"],
    )
    def test_bad_expressions_fail_at_compile_time(self, expression: str) -> None:
        with pytest.raises(FilterError) as raised:
            compile_xpath(expression, IF)
        assert raised.value.error_tag == "invalid-value"

    def test_namespace_nodes_cannot_be_selected(self) -> None:
        with pytest.raises(FilterError):
            xpath("/if:interfaces/namespace::*")

    def test_compiled_expressions_are_cached(self) -> None:
        first = compile_xpath("/if:interfaces", {"if": INTERFACES, "hw": HARDWARE})
        second = compile_xpath("/if:interfaces", {"hw": HARDWARE, "if": INTERFACES})
        assert first is second

    def test_operators_and_paths_are_told_apart(self) -> None:
        # '*' as multiplication, 'div' as an operator and '/' after an operator.
        got = xpath("/if:interfaces/if:interface[if:statistics/if:in-octets * 2 div /if:interfaces/if:interface"
                    "[if:name='lo']/if:statistics/if:in-octets = 320]/if:name")
        assert got == expect(interfaces("<interface><name>eth0</name></interface>"))


# ------------------------------------------------------------------------------ merge


class TestMergeInto:
    def test_providers_contribute_entries_and_leaves(self) -> None:
        main = xml(
            f'<data xmlns="{NETCONF_BASE}">'
            + interfaces(
                "<interface><name>eth0</name><admin-status>up</admin-status><oper-status>up</oper-status></interface>"
            )
            + "</data>"
        )
        line_card = xml(
            f'<data xmlns="{NETCONF_BASE}">'
            + interfaces(
                "<interface><name>eth0</name><oper-status>down</oper-status>"
                "<statistics><in-octets>7</in-octets></statistics></interface>"
                "<interface><name>eth1</name><oper-status>up</oper-status></interface>"
            )
            + hardware("<component><name>lc0</name><contains-child>eth0</contains-child></component>")
            + "</data>"
        )
        line_card_before = etree.tostring(line_card)
        merge_into(main, line_card, KEYS)
        assert etree.tostring(line_card) == line_card_before
        assert canon(main) == expect(
            interfaces(
                "<interface><name>eth0</name><admin-status>up</admin-status><oper-status>down</oper-status>"
                "<statistics><in-octets>7</in-octets></statistics></interface>"
                "<interface><name>eth1</name><oper-status>up</oper-status></interface>"
            )
            + hardware("<component><name>lc0</name><contains-child>eth0</contains-child></component>")
        )

    def test_leaf_list_entries_merge_by_value(self) -> None:
        target = xml(f"<data>{hardware('<component><name>lc0</name><contains-child>a</contains-child><contains-child>b</contains-child></component>')}</data>")
        source = xml(f"<data>{hardware('<component><name>lc0</name><contains-child>b</contains-child><contains-child>c</contains-child></component>')}</data>")
        merge_into(target, source, KEYS)
        assert canon(target) == canon(
            xml(
                "<data>"
                + hardware(
                    "<component><name>lc0</name><contains-child>a</contains-child>"
                    "<contains-child>b</contains-child><contains-child>c</contains-child></component>"
                )
                + "</data>"
            )
        )

    def test_keyless_list_entries_merge_by_content(self) -> None:
        keys = {("{urn:t}log", "{urn:t}event"): ()}
        target = xml('<data><log xmlns="urn:t"><event><n>1</n></event></log></data>')
        source = xml('<data><log xmlns="urn:t"><event><n>1</n></event><event><n>2</n></event></log></data>')
        merge_into(target, source, keys)
        assert canon(target) == canon(source)

    def test_results_of_two_filters_merge_to_the_result_of_both(self) -> None:
        first = interfaces("<interface><name>eth0</name><type/></interface>")
        second = interfaces("<interface><oper-status/></interface>") + hardware("<last-change/>")
        combined = subtree_filter(data(), filter_children(first), KEYS)
        merge_into(combined, subtree_filter(data(), filter_children(second), KEYS), KEYS)
        assert canon(combined) == subtree(first + second)


# ------------------------------------------------------------------------------ properties


@dataclass(frozen=True)
class SchemaNode:
    name: str
    kind: str  # "leaf", "leaf-list", "container" or "list"
    children: tuple[SchemaNode, ...] = ()
    key: str | None = None


A, B = "urn:example:a", "urn:example:b"
SCHEMA = (
    SchemaNode(qn(A, "top"), "container", (
        SchemaNode(qn(A, "entry"), "list", (
            SchemaNode(qn(A, "k"), "leaf"),
            SchemaNode(qn(A, "value"), "leaf"),
            SchemaNode(qn(A, "tag"), "leaf-list"),
            SchemaNode(qn(A, "c"), "container", (SchemaNode(qn(A, "x"), "leaf"), SchemaNode(qn(A, "y"), "leaf"))),
        ), key=qn(A, "k")),
        SchemaNode(qn(A, "flag"), "leaf"),
    )),
    SchemaNode(qn(B, "other"), "container", (
        SchemaNode(qn(B, "x"), "leaf"),
        SchemaNode(qn(B, "item"), "list", (SchemaNode(qn(B, "id"), "leaf"), SchemaNode(qn(B, "x"), "leaf")), key=qn(B, "id")),
    )),
)
PREFIXES = {"a": A, "b": B}
VALUES = st.sampled_from(["0", "1", "2"])


def schema_keys(nodes: tuple[SchemaNode, ...], path: tuple[str, ...] = ()) -> dict[tuple[str, ...], tuple[str, ...]]:
    index: dict[tuple[str, ...], tuple[str, ...]] = {}
    for node in nodes:
        if node.key is not None:
            index[path + (node.name,)] = (node.key,)
        index |= schema_keys(node.children, path + (node.name,))
    return index


SCHEMA_KEYS = schema_keys(SCHEMA)


@st.composite
def instances(draw: st.DrawFn, parent: etree._Element, nodes: tuple[SchemaNode, ...]) -> None:
    for node in nodes:
        if node.kind == "leaf":
            if draw(st.booleans()):
                etree.SubElement(parent, node.name).text = draw(VALUES)
        elif node.kind == "leaf-list":
            for value in draw(st.lists(VALUES, unique=True, max_size=3)):
                etree.SubElement(parent, node.name).text = value
        elif node.kind == "container":
            if draw(st.booleans()):
                draw(instances(etree.SubElement(parent, node.name), node.children))
        else:
            for key in draw(st.lists(st.sampled_from("pqrs"), unique=True, max_size=3)):
                entry = etree.SubElement(parent, node.name)
                etree.SubElement(entry, node.key).text = key
                draw(instances(entry, tuple(c for c in node.children if c.name != node.key)))


@st.composite
def data_trees(draw: st.DrawFn) -> etree._Element:
    root = etree.Element(qn(NETCONF_BASE, "data"))
    draw(instances(root, SCHEMA))
    return root


@st.composite
def subtree_filters(draw: st.DrawFn, parent: etree._Element, nodes: tuple[SchemaNode, ...]) -> None:
    for node in draw(st.lists(st.sampled_from(nodes), unique=True, max_size=3)):
        name = node.name if draw(st.integers(0, 4)) else etree.QName(node.name).localname
        element = etree.SubElement(parent, name)
        if node.kind in ("leaf", "leaf-list"):
            if draw(st.booleans()):
                element.text = draw(VALUES)
        elif node.children and draw(st.booleans()):
            draw(subtree_filters(element, node.children))


@st.composite
def xpath_paths(draw: st.DrawFn) -> str:
    steps: list[str] = []
    nodes = SCHEMA
    while nodes:
        node = draw(st.sampled_from(nodes))
        qname = etree.QName(node.name)
        step = f"{'a' if qname.namespace == A else 'b'}:{qname.localname}"
        if node.key is not None and draw(st.booleans()):
            step += f"[{step[:2]}{etree.QName(node.key).localname}='{draw(st.sampled_from('pqrs'))}']"
        steps.append(step)
        if draw(st.integers(0, 3)) == 0:
            break
        nodes = node.children
    return "/" + "/".join(steps)


def selection_filter_and_xpath(nodes: tuple[SchemaNode, ...], choices: list[int]) -> tuple[str, str]:
    """A chain of containment nodes ending in a selection node, and the same path in XPath."""
    xml_open, xml_close, steps = "", "", []
    for choice in choices:
        if not nodes:
            break
        node = nodes[choice % len(nodes)]
        qname = etree.QName(node.name)
        xml_open += f'<{qname.localname} xmlns="{qname.namespace}">'
        xml_close = f"</{qname.localname}>" + xml_close
        steps.append(f"{'a' if qname.namespace == A else 'b'}:{qname.localname}")
        nodes = node.children
    return xml_open + xml_close, "/" + "/".join(steps)


def schema_kinds(nodes: tuple[SchemaNode, ...], path: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    kinds: dict[tuple[str, ...], str] = {}
    for node in nodes:
        kinds[path + (node.name,)] = node.kind
        kinds |= schema_kinds(node.children, path + (node.name,))
    return kinds


SCHEMA_KINDS = schema_kinds(SCHEMA)


def identity(node: etree._Element, path: tuple[str, ...]) -> tuple[object, ...]:
    """Which schema instance ``node`` is: list entries by key, leaf-list entries by value."""
    node_path = path + (node.tag,)
    kind = SCHEMA_KINDS[node_path]
    if kind == "list":
        return (node.tag, node.findtext(SCHEMA_KEYS[node_path][0]))
    if kind == "leaf-list":
        return (node.tag, node.text)
    return (node.tag,)


def assert_within(result: etree._Element, source: etree._Element, path: tuple[str, ...] = ()) -> None:
    """Every element of ``result`` exists in ``source`` at the same place with the same value."""
    by_identity = {identity(child, path): child for child in source}
    for child in result:
        assert identity(child, path) in by_identity, etree.tostring(child)
        original = by_identity[identity(child, path)]
        if SCHEMA_KINDS[path + (child.tag,)] == "leaf":
            assert child.text == original.text
        assert_within(child, original, path + (child.tag,))


@settings(max_examples=150, deadline=None)
@given(data_trees())
def test_selecting_every_top_node_returns_the_data(tree: etree._Element) -> None:
    selections = [etree.Element(child.tag) for child in tree]
    assert canon(subtree_filter(tree, selections, SCHEMA_KEYS)) == canon(tree)


@settings(max_examples=150, deadline=None)
@given(data_trees())
def test_xpath_star_returns_the_data(tree: etree._Element) -> None:
    assert canon(xpath_filter(tree, "/*", PREFIXES, SCHEMA_KEYS)) == canon(tree)


@settings(max_examples=300, deadline=None)
@given(data_trees(), st.data())
def test_subtree_result_is_part_of_the_input(tree: etree._Element, draw: st.DataObject) -> None:
    filter_element = etree.Element("filter")
    draw.draw(subtree_filters(filter_element, SCHEMA))
    before = canon(tree)
    result = subtree_filter(tree, list(filter_element), SCHEMA_KEYS)
    assert canon(tree) == before
    assert_within(result, tree)


@settings(max_examples=300, deadline=None)
@given(data_trees(), xpath_paths())
def test_xpath_result_is_part_of_the_input(tree: etree._Element, expression: str) -> None:
    result = xpath_filter(tree, expression, PREFIXES, SCHEMA_KEYS)
    assert_within(result, tree)


@settings(max_examples=300, deadline=None)
@given(data_trees(), st.lists(st.integers(0, 9), min_size=1, max_size=4))
def test_subtree_and_xpath_agree_on_plain_paths(tree: etree._Element, choices: list[int]) -> None:
    body, path = selection_filter_and_xpath(SCHEMA, choices)
    assert canon(subtree_filter(tree, [xml(body)], SCHEMA_KEYS)) == canon(
        xpath_filter(tree, path, PREFIXES, SCHEMA_KEYS)
    )


@settings(max_examples=150, deadline=None)
@given(data_trees())
def test_merging_a_tree_into_its_copy_changes_nothing(tree: etree._Element) -> None:
    target = copy.deepcopy(tree)
    merge_into(target, tree, SCHEMA_KEYS)
    assert canon(target) == canon(tree)


@settings(max_examples=150, deadline=None)
@given(data_trees(), data_trees())
def test_merge_result_contains_both_trees(first: etree._Element, second: etree._Element) -> None:
    merged = copy.deepcopy(first)
    merge_into(merged, second, SCHEMA_KEYS)
    assert_within(second, merged)
    merge_into(merged, first, SCHEMA_KEYS)
    assert_within(first, merged)


# --------------------------------------------------------------------------------------
# selected_keys: which list entries a subtree filter can select (source push-down)
# --------------------------------------------------------------------------------------

_IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
_IF_LIST = (f"{{{_IF_NS}}}interfaces", f"{{{_IF_NS}}}interface")
_IF_KEY = (f"{{{_IF_NS}}}name",)


def _filter_children(xml: str) -> list[etree._Element]:
    return list(etree.fromstring(f"<filter>{xml}</filter>"))


@pytest.mark.parametrize(
    "xml, expected",
    [
        (f'<interfaces xmlns="{_IF_NS}"><interface><name>1/0/1</name></interface></interfaces>', {("1/0/1",)}),
        (
            f'<interfaces xmlns="{_IF_NS}"><interface><name>1/0/1</name><mtu/></interface>'
            f"<interface><name> 2/0/3 </name></interface></interfaces>",
            {("1/0/1",), ("2/0/3",)},
        ),
        (f'<interfaces xmlns="{_IF_NS}"/>', None),  # a selection node above the list: all of it
        (f'<interfaces xmlns="{_IF_NS}"><interface/></interfaces>', None),
        (f'<interfaces xmlns="{_IF_NS}"><interface><type>x</type></interface></interfaces>', None),
        (f'<interfaces xmlns="{_IF_NS}"><interface><name/></interface></interfaces>', None),
        ('<interfaces xmlns=""><interface><name>1/0/1</name></interface></interfaces>', {("1/0/1",)}),
        ('<hardware xmlns="urn:ietf:params:xml:ns:yang:ietf-hardware"/>', set()),
    ],
)
def test_selected_keys(xml, expected):
    result = selected_keys(_filter_children(xml), _IF_LIST, _IF_KEY)
    assert (None if result is None else set(result)) == expected


@settings(max_examples=100, deadline=None)
@given(st.sets(st.sampled_from(["1/0/0", "1/0/1", "2/0/0", "2/0/5", "3/0/9"]), min_size=1))
def test_selected_keys_agree_with_the_filter(names):
    data = etree.fromstring(
        f'<data><interfaces xmlns="{_IF_NS}">'
        + "".join(f"<interface><name>{n}</name><mtu>1500</mtu></interface>" for n in ["1/0/0", "1/0/1", "2/0/0", "2/0/5", "3/0/9"])
        + "</interfaces></data>"
    )
    children = _filter_children(
        f'<interfaces xmlns="{_IF_NS}">' + "".join(f"<interface><name>{n}</name></interface>" for n in names) + "</interfaces>"
    )
    selected = subtree_filter(data, children, {_IF_LIST: _IF_KEY})
    assert {key[0] for key in selected_keys(children, _IF_LIST, _IF_KEY)} == set(
        selected.xpath("//i:name/text()", namespaces={"i": _IF_NS})
    )


# --- entries named by key: looked up, not tested one by one --------------------------------------

T = "urn:test:routes"
ROUTE_KEYS: KeyIndex = {(qn(T, "routes"), qn(T, "route")): (qn(T, "prefix"), qn(T, "table"))}


def routes(*entries: str) -> etree._Element:
    return etree.fromstring(f'<data xmlns="{NETCONF_BASE}"><routes xmlns="{T}">{"".join(entries)}</routes></data>')


def route(prefix: str, table: str, hop: str, keys_first: bool = True) -> str:
    keys, rest = f"<prefix>{prefix}</prefix><table>{table}</table>", f"<hop>{hop}</hop><metric>1</metric>"
    return f"<route>{keys + rest if keys_first else rest + keys}</route>"


def selected(data: etree._Element, filter_xml: str, keys: KeyIndex) -> list[tuple[str, ...]]:
    result = subtree_filter(data, list(etree.fromstring(f'<f xmlns="{T}">{filter_xml}</f>')), keys)
    return [tuple(child.text for child in entry) for entry in result.iter(qn(T, "route"))]


def test_entries_named_by_every_key_are_selected_whole_whatever_the_order_of_their_leaves() -> None:
    data = routes(route("10/8", "main", "a"), route("10/8", "vrf", "b", keys_first=False), route("11/8", "main", "c"))
    named = ("<routes><route><prefix>10/8</prefix><table>vrf</table></route>"
             "<route><table>main</table><prefix>11/8</prefix></route>"
             "<route><prefix>11/8</prefix><table>main</table></route></routes>")  # named twice: once in the result
    assert selected(data, named, ROUTE_KEYS) == [("b", "1", "10/8", "vrf"), ("11/8", "main", "c", "1")]


def test_an_entry_named_by_key_with_more_to_match_is_still_tested() -> None:
    data = routes(route("10/8", "main", "a"), route("11/8", "main", "c"))
    assert selected(data, "<routes><route><prefix>10/8</prefix><table>main</table><hop/></route></routes>",
                    ROUTE_KEYS) == [("10/8", "main", "a")]
    assert selected(data, "<routes><route><prefix>10/8</prefix><table>main</table><hop>z</hop></route></routes>",
                    ROUTE_KEYS) == []


def test_a_key_left_open_goes_through_every_entry() -> None:
    data = routes(route("10/8", "main", "a"), route("10/8", "vrf", "b"), route("11/8", "main", "c"))
    assert [r[:2] for r in selected(data, "<routes><route><prefix>10/8</prefix></route></routes>", ROUTE_KEYS)] \
        == [("10/8", "main"), ("10/8", "vrf")]


def test_many_named_entries_select_exactly_those_in_data_order() -> None:
    data = routes(*(route(f"{n}/32", "main", str(n)) for n in range(300)))
    named = "".join(f"<route><prefix>{n}/32</prefix><table>main</table></route>" for n in range(299, -1, -3))
    assert [int(r[2]) for r in selected(data, f"<routes>{named}</routes>", ROUTE_KEYS)] == list(range(2, 300, 3))
