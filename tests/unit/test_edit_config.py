"""<edit-config> semantics (RFC 6241 §7.2) on ietf-interfaces data and a small example schema
with a two-key nested list and a leaf-list; the datastore diff used for on-change."""

import copy
from collections.abc import Iterable

import pytest
from hypothesis import assume, given, settings, strategies as st
from lxml import etree

from mso.namespaces import INTERFACES, NETCONF_BASE, qn
from mso.tree_diff import Change, changed_paths, module_prefix
from server.edit_config import EditError, apply_edit

EX = "urn:example"
IANAIFT = "urn:ietf:params:xml:ns:yang:iana-if-type"
IF_PATH = (qn(INTERFACES, "interfaces"), qn(INTERFACES, "interface"))
TOP, ITEM, SUB = qn(EX, "top"), qn(EX, "item"), qn(EX, "sub")
KEYS = {
    IF_PATH: (qn(INTERFACES, "name"),),
    (TOP, ITEM): (qn(EX, "id"),),
    (TOP, ITEM, SUB): (qn(EX, "a"), qn(EX, "b")),
}
LEAF_LISTS = {(TOP, ITEM, qn(EX, "tag"))}
PREFIXES = {INTERFACES: "if", EX: "ex"}

NC = f'xmlns:nc="{NETCONF_BASE}"'
RUNNING = f"""
<data xmlns="{NETCONF_BASE}">
  <interfaces xmlns="{INTERFACES}" xmlns:ianaift="{IANAIFT}">
    <interface>
      <name>eth0</name>
      <description>uplink</description>
      <type>ianaift:ethernetCsmacd</type>
      <enabled>true</enabled>
    </interface>
    <interface>
      <name>eth1</name>
      <enabled>false</enabled>
    </interface>
  </interfaces>
  <top xmlns="{EX}">
    <item>
      <id>1</id>
      <tag>red</tag>
      <tag>blue</tag>
      <sub><a>x</a><b>y</b><v>1</v></sub>
    </item>
  </top>
</data>
"""


def parse(text: str) -> etree._Element:
    return etree.fromstring(text.strip())


def config(body: str) -> etree._Element:
    return parse(f'<config xmlns="{NETCONF_BASE}" {NC}>{body}</config>')


def interfaces(body: str, attributes: str = "") -> str:
    return f'<interfaces xmlns="{INTERFACES}" {attributes}>{body}</interfaces>'


def top(body: str, attributes: str = "") -> str:
    return f'<top xmlns="{EX}" {attributes}>{body}</top>'


def edit(body: str, running: etree._Element | None = None, **kwargs) -> etree._Element:
    base = parse(RUNNING) if running is None else running
    return apply_edit(base, config(body), keys=KEYS, leaf_lists=LEAF_LISTS, **kwargs)


def refused(body: str, **kwargs) -> EditError:
    with pytest.raises(EditError) as caught:
        apply_edit(
            parse(RUNNING),
            config(body),
            keys=KEYS,
            leaf_lists=LEAF_LISTS,
            prefix_of=PREFIXES.get,
            **kwargs,
        )
    return caught.value


def canon(node: etree._Element) -> tuple:
    """Structure, names, leaf values and attributes; not formatting nor namespace declarations."""
    children = [canon(child) for child in node.iterchildren(etree.Element)]
    return (node.tag, dict(node.attrib), "" if children else node.text or "", children)


def interface(tree: etree._Element, name: str) -> etree._Element | None:
    found = tree.xpath(f"//if:interface[if:name='{name}']", namespaces={"if": INTERFACES})
    return found[0] if found else None


def leaf(tree: etree._Element, xpath: str) -> list[str]:
    return [node.text for node in tree.xpath(xpath, namespaces={"if": INTERFACES, "ex": EX})]


# merge


def test_merge_replaces_a_leaf_and_keeps_the_rest():
    result = edit(
        interfaces("<interface><name>eth0</name><description>core</description></interface>")
    )
    assert leaf(result, "//if:interface[if:name='eth0']/if:description") == ["core"]
    assert leaf(result, "//if:interface[if:name='eth0']/if:enabled") == ["true"]
    assert leaf(result, "//if:interface/if:name") == ["eth0", "eth1"]


def test_merge_creates_a_missing_entry_after_the_existing_entries_with_its_key_first():
    result = edit(
        interfaces("<interface><enabled>true</enabled><name>eth2</name></interface>")
        + top("<item><id>2</id></item>")
    )
    assert leaf(result, "//if:interface/if:name") == ["eth0", "eth1", "eth2"]
    assert [etree.QName(c).localname for c in interface(result, "eth2")] == ["name", "enabled"]
    assert leaf(result, "//ex:item/ex:id") == ["1", "2"]


def test_merge_adds_a_leaf_list_entry_only_when_absent():
    result = edit(top("<item><id>1</id><tag>blue</tag><tag>green</tag></item>"))
    item = result.xpath("//ex:item", namespaces={"ex": EX})[0]
    assert [(etree.QName(c).localname, c.text) for c in item][:5] == [
        ("id", "1"),
        ("tag", "red"),
        ("tag", "blue"),
        ("tag", "green"),
        ("sub", None),
    ]


def test_merge_matches_nested_entries_on_all_their_keys():
    result = edit(
        top("<item><id>1</id><sub><a>x</a><b>y</b><v>2</v></sub><sub><a>x</a><b>z</b></sub></item>")
    )
    assert leaf(result, "//ex:sub/ex:b") == ["y", "z"]
    assert leaf(result, "//ex:sub[ex:b='y']/ex:v") == ["2"]


def test_merge_creates_a_new_top_level_node_in_its_own_default_namespace():
    hardware = (
        '<hardware xmlns="urn:example:hw"><component><name>board</name></component></hardware>'
    )
    result = edit(hardware)
    assert etree.tostring(result[-1]).decode() == hardware


def test_an_empty_container_merged_onto_a_populated_one_changes_nothing():
    assert canon(edit(interfaces(""))) == canon(parse(RUNNING))


def test_a_value_prefix_stays_bound_in_the_datastore():
    body = interfaces(
        '<interface xmlns:t="urn:ietf:params:xml:ns:yang:iana-if-type"><name>eth1</name>'
        "<type>t:softwareLoopback</type></interface>"
    )
    result = edit(body)
    reparsed = etree.fromstring(etree.tostring(result))
    (node,) = reparsed.xpath("//if:type[../if:name='eth1']", namespaces={"if": INTERFACES})
    prefix, name = node.text.split(":")
    assert (node.nsmap[prefix], name) == (IANAIFT, "softwareLoopback")


def test_leaf_values_are_kept_exactly_and_formatting_is_dropped():
    body = interfaces("""
        <interface>
          <name>eth3</name>
          <description>  two  spaces  </description>
        </interface>
        """)
    result = edit(body)
    added = interface(result, "eth3")
    assert added.text is None and all(child.tail is None for child in added)
    assert leaf(result, "//if:interface[if:name='eth3']/if:description") == ["  two  spaces  "]


# replace


def test_replace_of_a_list_entry_drops_children_it_does_not_mention_and_keeps_its_place():
    body = interfaces(
        '<interface nc:operation="replace"><name>eth0</name><mtu>9000</mtu></interface>'
    )
    result = edit(body)
    replaced = interface(result, "eth0")
    assert [etree.QName(c).localname for c in replaced] == ["name", "mtu"]
    assert leaf(result, "//if:interface/if:name") == ["eth0", "eth1"]


def test_replace_of_a_missing_node_creates_it():
    result = edit(top('<item nc:operation="replace"><id>7</id><tag>x</tag></item>'))
    assert leaf(result, "//ex:item[ex:id='7']/ex:tag") == ["x"]


def test_replace_of_a_leaf_list_entry_keeps_it_once_in_place():
    result = edit(top('<item><id>1</id><tag nc:operation="replace">red</tag></item>'))
    assert leaf(result, "//ex:item/ex:tag") == ["red", "blue"]


def test_a_nested_operation_under_replace_acts_on_the_emptied_node():
    body = interfaces(
        '<interface nc:operation="replace"><name>eth0</name><description nc:operation="remove"/>'
        "</interface>"
    )
    assert [etree.QName(c).localname for c in interface(edit(body), "eth0")] == ["name"]
    error = refused(
        interfaces(
            '<interface nc:operation="replace"><name>eth0</name><enabled nc:operation="delete"/>'
            "</interface>"
        )
    )
    assert error.error_tag == "data-missing"


# create, delete, remove


def test_create_adds_an_absent_entry():
    result = edit(interfaces('<interface nc:operation="create"><name>eth9</name></interface>'))
    assert leaf(result, "//if:interface/if:name") == ["eth0", "eth1", "eth9"]


def test_create_of_an_existing_entry_is_data_exists_with_its_path():
    error = refused(interfaces('<interface nc:operation="create"><name>eth0</name></interface>'))
    assert error.error_tag == "data-exists"
    assert error.error_path == "/if:interfaces/if:interface[if:name='eth0']"
    assert error.path_namespaces == {"if": INTERFACES}


def test_create_of_an_existing_leaf_list_entry_is_data_exists():
    error = refused(top('<item><id>1</id><tag nc:operation="create">red</tag></item>'))
    assert error.error_tag == "data-exists"
    assert error.error_path == "/ex:top/ex:item[ex:id='1']/ex:tag[.='red']"


def test_delete_removes_a_leaf_an_entry_and_a_leaf_list_entry():
    result = edit(
        interfaces('<interface><name>eth0</name><description nc:operation="delete"/></interface>')
        + interfaces('<interface nc:operation="delete"><name>eth1</name></interface>')
        + top('<item><id>1</id><tag nc:operation="delete">red</tag></item>')
    )
    assert leaf(result, "//if:description") == []
    assert interface(result, "eth1") is None
    assert leaf(result, "//ex:item/ex:tag") == ["blue"]


def test_delete_of_a_missing_node_is_data_missing():
    error = refused(top('<item><id>1</id><sub nc:operation="delete"><a>x</a><b>q</b></sub></item>'))
    assert error.error_tag == "data-missing"
    assert error.error_path == "/ex:top/ex:item[ex:id='1']/ex:sub[ex:a='x'][ex:b='q']"


def test_remove_of_a_missing_node_is_silently_nothing():
    body = interfaces(
        '<interface><name>eth1</name><description nc:operation="remove"/></interface>'
    )
    assert canon(edit(body)) == canon(parse(RUNNING))


def test_remove_deletes_a_present_node():
    body = interfaces(
        '<interface><name>eth0</name><description nc:operation="remove"/></interface>'
    )
    assert leaf(edit(body), "//if:description") == []


def test_one_request_sees_its_own_earlier_changes():
    created_then_merged = interfaces(
        '<interface nc:operation="create"><name>eth9</name></interface>'
        "<interface><name>eth9</name><mtu>1</mtu></interface>"
    )
    assert leaf(edit(created_then_merged), "//if:interface[if:name='eth9']/*") == ["eth9", "1"]
    deleted_then_created = interfaces(
        '<interface nc:operation="delete"><name>eth0</name></interface>'
        '<interface nc:operation="create"><name>eth0</name></interface>'
    )
    assert leaf(edit(deleted_then_created), "//if:interface/if:name") == ["eth1", "eth0"]
    created_twice = interfaces('<interface nc:operation="create"><name>eth7</name></interface>' * 2)
    assert refused(created_twice).error_tag == "data-exists"
    deleted_twice = interfaces('<interface nc:operation="delete"><name>eth0</name></interface>' * 2)
    assert refused(deleted_twice).error_tag == "data-missing"


# inheritance and default-operation


def test_an_operation_is_inherited_by_the_subtree():
    error = refused(interfaces("<interface><name>eth0</name></interface>", 'nc:operation="create"'))
    assert (error.error_tag, error.error_path) == ("data-exists", "/if:interfaces")
    result = edit(
        top("<item><id>3</id><sub><a>1</a><b>2</b></sub></item>", 'nc:operation="replace"')
    )
    assert leaf(result, "//ex:item/ex:id") == ["3"]
    assert leaf(result, "//ex:sub/ex:a") == ["1"]


def test_a_descendant_operation_overrides_the_inherited_one():
    error = refused(
        interfaces(
            '<interface nc:operation="create"><name>eth0</name></interface>', 'nc:operation="merge"'
        )
    )
    assert (error.error_tag, error.error_path) == (
        "data-exists",
        "/if:interfaces/if:interface[if:name='eth0']",
    )


def test_the_content_of_a_deleted_node_only_identifies_it():
    body = interfaces(
        '<interface><name>eth0</name><enabled nc:operation="merge">false</enabled></interface>',
        'nc:operation="delete"',
    )
    assert edit(body).xpath("//if:interfaces", namespaces={"if": INTERFACES}) == []


def test_default_operation_none_only_navigates():
    body = interfaces(
        "<interface><name>eth0</name><description>ignored</description></interface><interface>"
        "<name>eth5</name></interface>"
    )
    assert canon(edit(body, default_operation="none")) == canon(parse(RUNNING))


def test_default_operation_none_applies_explicit_operations():
    body = interfaces(
        '<interface><name>eth0</name><description nc:operation="delete"/><enabled>false</enabled>'
        "</interface>"
    )
    result = edit(body, default_operation="none")
    assert leaf(result, "//if:interface[if:name='eth0']/*") == [
        "eth0",
        "ianaift:ethernetCsmacd",
        "true",
    ]


def test_default_operation_none_creates_missing_ancestors_a_descendant_needs():
    body = top(
        '<item><id>5</id><other>kept out</other><sub><a>p</a><b>q</b><v nc:operation="create">1'
        "</v></sub></item>"
    )
    result = edit(body, default_operation="none")
    created = result.xpath("//ex:item[ex:id='5']", namespaces={"ex": EX})[0]
    assert canon(created) == canon(
        parse(f'<item xmlns="{EX}"><id>5</id><sub><a>p</a><b>q</b><v>1</v></sub></item>')
    )


def test_default_operation_none_leaves_missing_ancestors_absent_for_remove_and_fails_delete():
    remove = interfaces(
        '<interface><name>eth7</name><description nc:operation="remove"/></interface>'
    )
    assert canon(edit(remove, default_operation="none")) == canon(parse(RUNNING))
    error = refused(
        interfaces('<interface><name>eth7</name><description nc:operation="delete"/></interface>'),
        default_operation="none",
    )
    assert (error.error_tag, error.error_path) == (
        "data-missing",
        "/if:interfaces/if:interface[if:name='eth7']/if:description",
    )


def test_default_operation_replace_replaces_the_whole_datastore():
    result = edit(top("<item><id>9</id></item>"), default_operation="replace")
    assert canon(result) == canon(
        parse(
            f'<data xmlns="{NETCONF_BASE}"><top xmlns="{EX}"><item><id>9</id></item></top></data>'
        )
    )


def test_an_unknown_default_operation_is_invalid_value():
    error = refused("", default_operation="overwrite")
    assert (error.error_tag, error.error_info) == (
        "invalid-value",
        {"bad-element": "default-operation"},
    )


# refused requests


def test_an_unknown_operation_is_bad_attribute():
    error = refused(interfaces('<interface nc:operation="destroy"><name>eth0</name></interface>'))
    assert error.error_tag == "bad-attribute"
    assert error.error_info == {"bad-attribute": "operation", "bad-element": "interface"}
    assert error.error_path == "/if:interfaces/if:interface[if:name='eth0']"


def test_an_attribute_outside_the_base_namespace_is_unknown_attribute():
    for attribute in (
        'operation="delete"',
        'xmlns:y="urn:ietf:params:xml:ns:yang:1" y:insert="first"',
    ):
        error = refused(interfaces(f"<interface {attribute}><name>eth0</name></interface>"))
        assert error.error_tag == "unknown-attribute"
        assert error.error_info["bad-element"] == "interface"
    assert error.error_info["bad-attribute"] == "insert"


def test_an_element_without_namespace_is_unknown_element():
    error = refused(interfaces('<interface><name>eth0</name><mtu xmlns="">1</mtu></interface>'))
    assert (error.error_tag, error.error_info) == ("unknown-element", {"bad-element": "mtu"})
    assert error.error_path == "/if:interfaces/if:interface[if:name='eth0']/mtu"


def test_an_entry_without_a_key_is_missing_element():
    error = refused(top('<item><id>1</id><sub nc:operation="remove"><a>x</a></sub></item>'))
    assert error.error_tag == "missing-element"
    assert error.error_info == {"bad-element": "b"}
    assert error.error_path == "/ex:top/ex:item[ex:id='1']/ex:sub[ex:a='x']"


def test_a_key_leaf_cannot_be_deleted_on_its_own():
    for operation in ("delete", "remove"):
        error = refused(
            interfaces(f'<interface><name nc:operation="{operation}">eth0</name></interface>')
        )
        assert error.error_tag == "bad-attribute"
        assert error.error_info == {"bad-attribute": "operation", "bad-element": "name"}


def test_creating_the_key_of_an_existing_entry_is_data_exists():
    error = refused(interfaces('<interface><name nc:operation="create">eth0</name></interface>'))
    assert error.error_tag == "data-exists"
    result = edit(
        interfaces('<interface><name nc:operation="create">eth4</name></interface>'),
        default_operation="none",
    )
    assert leaf(result, "//if:interface/if:name") == ["eth0", "eth1", "eth4"]


def test_error_paths_quote_any_key_value():
    error = refused(
        interfaces('<interface nc:operation="delete"><name>it\'s "x"</name></interface>')
    )
    assert error.error_path == "/if:interfaces/if:interface[if:name=concat('it', \"'\", 's \"x\"')]"
    error = refused(interfaces('<interface nc:operation="delete"><name>it\'s</name></interface>'))
    assert error.error_path == '/if:interfaces/if:interface[if:name="it\'s"]'


def test_the_default_prefix_is_the_last_segment_of_the_namespace():
    assert module_prefix(INTERFACES) == "ietf-interfaces"
    assert module_prefix("http://example.com/ns/hw") == "hw"
    assert module_prefix("urn:vendor:1.0") == "ns"
    with pytest.raises(EditError) as caught:
        apply_edit(
            parse(RUNNING),
            config(top('<item nc:operation="create"><id>1</id></item>')),
            keys=KEYS,
            leaf_lists=LEAF_LISTS,
        )
    assert caught.value.error_path == "/example:top/example:item[example:id='1']"
    assert caught.value.path_namespaces == {"example": EX}


def test_two_namespaces_with_one_prefix_get_distinct_prefixes():
    aug = "urn:other:example"
    body = top(f'<item><id>1</id><extra xmlns="{aug}" nc:operation="delete"/></item>')
    with pytest.raises(EditError) as caught:
        apply_edit(parse(RUNNING), config(body), keys=KEYS, leaf_lists=LEAF_LISTS)
    assert caught.value.error_path == "/example:top/example:item[example:id='1']/example2:extra"
    assert caught.value.path_namespaces == {"example": EX, "example2": aug}


# purity


def test_inputs_are_never_modified_and_no_operation_attribute_is_stored():
    running = parse(RUNNING)
    request = config(
        interfaces(
            '<interface nc:operation="replace"><name>eth0</name></interface>'
            '<interface nc:operation="create"><name>eth8</name></interface>'
        )
        + top('<item><id>1</id><tag nc:operation="delete">red</tag></item>', 'nc:operation="merge"')
    )
    running_before, request_before = etree.tostring(running), etree.tostring(request)
    result = apply_edit(running, request, keys=KEYS, leaf_lists=LEAF_LISTS)
    assert etree.tostring(running) == running_before
    assert etree.tostring(request) == request_before
    assert result is not running
    assert not result.xpath("//@nc:operation", namespaces={"nc": NETCONF_BASE})


def test_a_refused_edit_leaves_running_untouched():
    running = parse(RUNNING)
    before = etree.tostring(running)
    with pytest.raises(EditError):
        apply_edit(
            running,
            config(
                interfaces(
                    '<interface nc:operation="delete"><name>eth0</name></interface>'
                    '<interface nc:operation="delete"><name>eth6</name></interface>'
                )
            ),
            keys=KEYS,
            leaf_lists=LEAF_LISTS,
        )
    assert etree.tostring(running) == before


# changed_paths


def diff(before: etree._Element, after: etree._Element) -> list[Change]:
    return changed_paths(before, after, KEYS, LEAF_LISTS, prefix_of=PREFIXES.get)


def test_changed_paths_reports_create_replace_and_delete():
    before = parse(RUNNING)
    after = edit(
        interfaces(
            "<interface><name>eth0</name><description>core</description></interface>"
            '<interface nc:operation="delete"><name>eth1</name></interface>'
        )
        + top('<item><id>1</id><tag nc:operation="delete">red</tag><tag>green</tag></item>'),
        running=before,
    )
    changes = diff(before, after)
    assert [(c.operation, c.path) for c in changes] == [
        ("delete", "/if:interfaces/if:interface[if:name='eth1']"),
        ("replace", "/if:interfaces/if:interface[if:name='eth0']/if:description"),
        ("delete", "/ex:top/ex:item[ex:id='1']/ex:tag[.='red']"),
        ("create", "/ex:top/ex:item[ex:id='1']/ex:tag[.='green']"),
    ]
    assert changes[0].value is None
    assert changes[1].value.text == "core" and changes[1].namespaces == {"if": INTERFACES}
    assert changes[3].value.text == "green"


def test_changed_paths_reports_a_new_entry_as_one_create_with_a_detached_copy():
    before = parse(RUNNING)
    after = edit(top("<item><id>2</id><tag>a</tag></item>"), running=before)
    (change,) = diff(before, after)
    assert (change.operation, change.path, change.namespaces) == (
        "create",
        "/ex:top/ex:item[ex:id='2']",
        {"ex": EX},
    )
    assert canon(change.value) == canon(parse(f'<item xmlns="{EX}"><id>2</id><tag>a</tag></item>'))
    change.value.clear()
    assert leaf(after, "//ex:item[ex:id='2']/ex:tag") == ["a"]


def test_changed_paths_of_equal_trees_is_empty():
    assert diff(parse(RUNNING), parse(RUNNING)) == []


# properties

text = st.text(alphabet="ab '\"", min_size=0, max_size=4)
key_text = st.text(alphabet="ab1 '\"", min_size=1, max_size=4)


@st.composite
def datastores(draw) -> etree._Element:
    """A running tree of the example schema: items with optional leaves, tags and sub entries."""
    root = etree.Element(qn(NETCONF_BASE, "data"), nsmap={None: NETCONF_BASE})
    container = etree.SubElement(root, TOP, nsmap={None: EX})
    for item_id in draw(st.lists(key_text, unique=True, max_size=4)):
        item = etree.SubElement(container, ITEM)
        etree.SubElement(item, qn(EX, "id")).text = item_id
        if draw(st.booleans()):
            etree.SubElement(item, qn(EX, "name")).text = draw(text)
        for tag in draw(st.lists(text, unique=True, max_size=3)):
            etree.SubElement(item, qn(EX, "tag")).text = tag
        for a, b in draw(st.lists(st.tuples(key_text, key_text), unique=True, max_size=3)):
            sub = etree.SubElement(item, SUB)
            etree.SubElement(sub, qn(EX, "a")).text = a
            etree.SubElement(sub, qn(EX, "b")).text = b
            etree.SubElement(sub, qn(EX, "v")).text = draw(text)
    return root


def as_config(running: etree._Element, operation: str | None = None) -> etree._Element:
    """A pretty-printed <config> holding a copy of the running tree."""
    request = etree.Element(qn(NETCONF_BASE, "config"), nsmap={None: NETCONF_BASE})
    for node in running:
        request.append(copy.deepcopy(node))
    if operation:
        for node in request:
            node.set(qn(NETCONF_BASE, "operation"), operation)
    etree.indent(request)
    return request


@settings(max_examples=150)
@given(running=datastores(), operation=st.sampled_from([None, "merge", "replace"]))
def test_editing_running_with_itself_changes_nothing(running, operation):
    result = apply_edit(running, as_config(running, operation), keys=KEYS, leaf_lists=LEAF_LISTS)
    assert canon(result) == canon(running)
    assert diff(running, result) == []


@settings(max_examples=150)
@given(running=datastores(), new_id=key_text, tags=st.lists(text, unique=True, max_size=2))
def test_create_then_delete_of_an_entry_returns_the_original(running, new_id, tags):
    assume(not running.xpath("//ex:item[ex:id=$v]", namespaces={"ex": EX}, v=new_id))
    created = apply_edit(
        running, item_edit("create", new_id, tags), keys=KEYS, leaf_lists=LEAF_LISTS
    )
    assert [(c.operation, c.value is not None) for c in diff(running, created)] == [
        ("create", True)
    ]
    deleted = apply_edit(created, item_edit("delete", new_id), keys=KEYS, leaf_lists=LEAF_LISTS)
    assert canon(deleted) == canon(running)
    assert [c.operation for c in diff(created, deleted)] == ["delete"]


def item_edit(operation: str, item_id: str, tags: Iterable[str] = ()) -> etree._Element:
    """<config><top><item nc:operation=...> with the id and tags: built, not parsed, since
    the generated values hold both kinds of quote."""
    request = etree.Element(qn(NETCONF_BASE, "config"), nsmap={None: NETCONF_BASE})
    container = etree.SubElement(request, TOP, nsmap={None: EX})
    item = etree.SubElement(container, ITEM, {qn(NETCONF_BASE, "operation"): operation})
    etree.SubElement(item, qn(EX, "id")).text = item_id
    for tag in tags:
        etree.SubElement(item, qn(EX, "tag")).text = tag
    return request


def test_anydata_content_is_a_value_not_a_tree_to_merge() -> None:
    """A subscription's subtree filter names two interfaces: both stay, though they share a tag
    (the schema knows no keys inside anydata), and a later edit replaces the filter whole."""
    filter_path = ("{urn:x}top", "{urn:x}filter")
    two = config('<top xmlns="urn:x"><filter><i><name>a</name></i><i><name>b</name></i></filter></top>')
    one = config('<top xmlns="urn:x"><filter><i><name>c</name></i></filter></top>')

    first = apply_edit(parse(f'<data xmlns="{NETCONF_BASE}"/>'), two, keys={}, leaf_lists=(), opaque={filter_path})
    second = apply_edit(first, one, keys={}, leaf_lists=(), opaque={filter_path})

    assert [n.text for n in first.iter("{urn:x}name")] == ["a", "b"]
    assert [n.text for n in second.iter("{urn:x}name")] == ["c"]
