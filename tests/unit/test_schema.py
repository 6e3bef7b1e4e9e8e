"""mso.schema: the module set, what the server announces from it, and instance validation."""

from pathlib import Path

import pytest
from lxml import etree

from mso import namespaces as ns
from mso.schema import Schema, SchemaError, ValidationError, project_yang_dir

IF = ns.INTERFACES
IP = "urn:ietf:params:xml:ns:yang:ietf-ip"
SN = ns.SUBSCRIBED_NOTIFICATIONS
MSO_FILE = "ietf-multiple-stream-originators@2019-10-12.yang"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def module(schema: Schema, name: str):
    return next(m for m in schema.modules if m.name == name)


def datastore(*children: str | etree._Element) -> etree._Element:
    data = etree.Element(ns.qn(ns.NETCONF_BASE, "data"), nsmap={None: ns.NETCONF_BASE})
    for child in children:
        data.append(etree.fromstring(child) if isinstance(child, str) else child)
    return data


def interfaces(*entries: str) -> str:
    return (
        f'<interfaces xmlns="{IF}" xmlns:ianaift="{ns.IANA_IF_TYPE}">'
        + "".join(f"<interface>{e}</interface>" for e in entries)
        + "</interfaces>"
    )


ETH = "<name>2/0/7</name><type>ianaift:ethernetCsmacd</type>"
ETH_PATH = "/if:interfaces/if:interface[if:name='2/0/7']"


def rejection(schema: Schema, *children: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        schema.validate_config(datastore(*children))
    return caught.value


# ---- module set ----------------------------------------------------------------------------


def test_yang_versions_and_features_come_from_the_modules(schema: Schema) -> None:
    assert module(schema, "ietf-multiple-stream-originators").yang_version == "1.1"
    assert module(schema, "ietf-netconf").yang_version == "1.0"
    assert module(schema, "ietf-subscribed-notifications").features == (
        "configured",
        "encode-json",
        "encode-xml",
        "subtree",
        "xpath",
    )
    assert module(schema, "ietf-yang-push").features == ("on-change",)
    assert module(schema, "ietf-hardware").features == ("hardware-sensor",)


def test_ietf_modules_come_from_pyang_and_ours_from_yang_dir(schema: Schema) -> None:
    mso = module(schema, "ietf-multiple-stream-originators")
    assert mso.source_path == project_yang_dir() / MSO_FILE
    assert mso.namespace == ns.MSO and mso.prefix == "mso" and mso.implemented
    assert module(schema, "ietf-interfaces").source_path.parts[-4:-1] == ("yang", "modules", "ietf")
    assert not module(schema, "ietf-inet-types").implemented


@pytest.mark.parametrize(
    ("path", "output"),
    [
        ("/ietf-subscribed-notifications:subscriptions/subscription", False),
        ("/ietf-subscribed-notifications:subscription-started", False),
        ("/ietf-subscribed-notifications:subscription-modified", False),
        ("/ietf-subscribed-notifications:establish-subscription", True),
        ("/ietf-subscribed-notifications:modify-subscription", True),
    ],
)
def test_mso_augments_carry_message_generator_ids(schema: Schema, path: str, output: bool) -> None:
    node = schema.ctx.find_jsonpath(f"{path}/ietf-multiple-stream-originators:message-generator-id", output=output)

    assert node is not None
    assert node.keyword() == "leaf-list" and node.module().name() == "ietf-multiple-stream-originators"
    assert node.ordered()


def test_a_module_that_does_not_compile_is_a_schema_error(tmp_path: Path) -> None:
    (tmp_path / "broken.yang").write_text(
        'module broken { yang-version 1.1; namespace "urn:x:broken"; prefix b; leaf x { type no-such-type; } }'
    )
    with pytest.raises(SchemaError, match="no-such-type"):
        Schema.load(extra_dirs=[tmp_path])


def test_content_id_is_stable_and_follows_the_module_set(schema: Schema, tmp_path: Path) -> None:
    assert Schema.load().content_id == schema.content_id

    (tmp_path / "extra@2024-01-01.yang").write_text(
        'module extra { yang-version 1.1; namespace "urn:x:extra"; prefix x;'
        " revision 2024-01-01; container box { leaf n { type string; } } }"
    )
    extended = Schema.load(extra_dirs=[tmp_path])

    assert extended.content_id != schema.content_id
    assert module(extended, "extra").implemented
    assert "urn:x:extra" in extended.top_level_namespaces()


def test_submodules_are_refused(tmp_path: Path) -> None:
    (tmp_path / "whole.yang").write_text(
        'module whole { yang-version 1.1; namespace "urn:x:whole"; prefix w; include part; }'
    )
    (tmp_path / "part.yang").write_text("submodule part { yang-version 1.1; belongs-to whole { prefix w; } }")
    with pytest.raises(SchemaError, match="submodule"):
        Schema.load(extra_dirs=[tmp_path])


def test_deviations_are_announced_everywhere(tmp_path: Path) -> None:
    (tmp_path / "acm-deviations@2024-01-01.yang").write_text(
        'module acm-deviations { namespace "urn:x:acm-deviations"; prefix d;'
        " import ietf-netconf-acm { prefix nacm; } revision 2024-01-01;"
        " deviation /nacm:nacm/nacm:enable-external-groups { deviate not-supported; } }"
    )
    deviated = Schema.load(extra_dirs=[tmp_path])
    yl = {"yl": ns.YANG_LIBRARY}

    assert module(deviated, "ietf-netconf-acm").deviations == ("acm-deviations",)
    assert f"{ns.NACM}?module=ietf-netconf-acm&revision=2018-02-14&deviations=acm-deviations" in (
        deviated.hello_capabilities()
    )
    nacm_entry = "yl:module-set/yl:module[yl:name='ietf-netconf-acm']/yl:deviation/text()"
    assert deviated.yang_library().xpath(nacm_entry, namespaces=yl) == ["acm-deviations"]
    state_entry = "yl:module[yl:name='ietf-netconf-acm']/yl:deviation/yl:revision/text()"
    assert deviated.modules_state().xpath(state_entry, namespaces=yl) == ["2024-01-01"]
    deviated.validate_operational(operational(deviated))


# ---- announcements -------------------------------------------------------------------------


def test_hello_has_protocol_capabilities_yang_1_0_modules_and_yang_library(schema: Schema) -> None:
    caps = schema.hello_capabilities()

    assert caps[:4] == [
        "urn:ietf:params:netconf:base:1.0",
        "urn:ietf:params:netconf:base:1.1",
        "urn:ietf:params:netconf:capability:writable-running:1.0",
        "urn:ietf:params:netconf:capability:xpath:1.0",
    ]
    assert (
        "urn:ietf:params:xml:ns:netconf:base:1.0?module=ietf-netconf&revision=2011-06-01"
        "&features=writable-running,xpath"
    ) in caps
    assert f"{ns.NETCONF_MONITORING}?module=ietf-netconf-monitoring&revision=2010-10-04" in caps
    assert f"{ns.NACM}?module=ietf-netconf-acm&revision=2018-02-14" in caps
    assert caps[-1] == (
        "urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04"
        f"&content-id={schema.content_id}"
    )
    assert not [c for c in caps if ":capability:notification:" in c or ":capability:interleave:" in c]


def test_hello_lists_no_yang_1_1_module(schema: Schema) -> None:
    announced = {c.split("?module=")[1].split("&")[0] for c in schema.hello_capabilities() if "?module=" in c}

    assert announced
    assert all(module(schema, name).yang_version == "1.0" for name in announced)
    assert "ietf-multiple-stream-originators" not in announced


def operational(schema: Schema) -> etree._Element:
    """The smallest complete operational datastore: what the schema itself demands."""
    state = etree.Element(ns.qn(ns.NETCONF_MONITORING, "netconf-state"), nsmap={None: ns.NETCONF_MONITORING})
    state.append(schema.netconf_state_schemas())
    counters = "".join(
        f"<{c}>0</{c}>" for c in ("denied-operations", "denied-data-writes", "denied-notifications")
    )
    return datastore(
        schema.yang_library(),
        schema.modules_state(),
        state,
        f'<nacm xmlns="{ns.NACM}">{counters}</nacm>',
    )


def test_yang_library_views_are_valid_against_their_own_modules(schema: Schema) -> None:
    schema.validate_operational(operational(schema))


def test_yang_library_lists_our_module_and_the_content_id(schema: Schema) -> None:
    library = schema.yang_library()
    yl = {"yl": ns.YANG_LIBRARY}

    mso = library.xpath("yl:module-set/yl:module[yl:name='ietf-multiple-stream-originators']", namespaces=yl)
    assert [m.findtext("yl:namespace", namespaces=yl) for m in mso] == [ns.MSO]
    assert library.findtext("yl:content-id", namespaces=yl) == schema.content_id
    assert library.xpath("yl:datastore/yl:name/text()", namespaces=yl) == ["ds:running", "ds:operational"]
    sn_features = library.xpath(
        "yl:module-set/yl:module[yl:name='ietf-subscribed-notifications']/yl:feature/text()", namespaces=yl
    )
    assert "replay" not in sn_features and "configured" in sn_features


def test_modules_state_marks_import_only_modules(schema: Schema) -> None:
    state = schema.modules_state()
    yl = {"yl": ns.YANG_LIBRARY}

    assert state.findtext("yl:module-set-id", namespaces=yl) == schema.content_id
    conformance = dict(
        zip(
            state.xpath("yl:module/yl:name/text()", namespaces=yl),
            state.xpath("yl:module/yl:conformance-type/text()", namespaces=yl),
        )
    )
    assert conformance["ietf-inet-types"] == "import"
    assert conformance["ietf-multiple-stream-originators"] == "implement"
    assert len(conformance) == len(schema.modules)


def test_netconf_state_schemas_lists_every_module_for_get_schema(schema: Schema) -> None:
    schemas = schema.netconf_state_schemas()
    ncm = {"ncm": ns.NETCONF_MONITORING}

    yang_entries = schemas.xpath("ncm:schema[ncm:format='yang']", namespaces=ncm)
    assert {e.findtext("ncm:identifier", namespaces=ncm) for e in yang_entries} == {m.name for m in schema.modules}
    assert len(yang_entries) == len(schema.modules)
    mso = schemas.xpath("ncm:schema[ncm:identifier='ietf-multiple-stream-originators']", namespaces=ncm)[0]
    assert mso.findtext("ncm:version", namespaces=ncm) == "2019-10-12"
    assert mso.findtext("ncm:namespace", namespaces=ncm) == ns.MSO
    assert mso.findtext("ncm:location", namespaces=ncm) == "NETCONF"


def test_schema_text_returns_our_source_file(schema: Schema) -> None:
    text = (project_yang_dir() / MSO_FILE).read_text(encoding="utf-8")

    assert schema.schema_text("ietf-multiple-stream-originators") == text
    assert schema.schema_text("ietf-multiple-stream-originators", "2019-10-12") == text


def test_schema_text_in_yin_and_for_builtin_modules(schema: Schema) -> None:
    yin = etree.fromstring(schema.schema_text("ietf-multiple-stream-originators", fmt="yin").encode())

    assert yin.tag == "{urn:ietf:params:xml:ns:yang:yin:1}module"
    assert yin.get("name") == "ietf-multiple-stream-originators"
    assert module(schema, "yang").source_path is None  # libyang's own module, in no file
    assert schema.schema_text("yang").startswith("module yang {")


@pytest.mark.parametrize(
    ("identifier", "version", "fmt"),
    [
        ("no-such-module", None, "yang"),
        ("ietf-multiple-stream-originators", "2000-01-01", "yang"),
        ("ietf-multiple-stream-originators", None, "xsd"),
    ],
)
def test_schema_text_of_an_unknown_schema_is_a_key_error(
    schema: Schema, identifier: str, version: str | None, fmt: str
) -> None:
    with pytest.raises(KeyError):
        schema.schema_text(identifier, version, fmt)


# ---- schema tree ---------------------------------------------------------------------------


def test_key_index_has_lists_at_every_depth_and_in_augments(schema: Schema) -> None:
    hw, yp = ns.HARDWARE, ns.YANG_PUSH
    index = schema.key_index

    assert index[(f"{{{IF}}}interfaces", f"{{{IF}}}interface")] == (f"{{{IF}}}name",)
    assert index[(f"{{{hw}}}hardware", f"{{{hw}}}component")] == (f"{{{hw}}}name",)
    assert index[(f"{{{SN}}}subscriptions", f"{{{SN}}}subscription")] == (f"{{{SN}}}id",)
    receivers = (f"{{{SN}}}subscriptions", f"{{{SN}}}subscription", f"{{{SN}}}receivers", f"{{{SN}}}receiver")
    assert index[receivers] == (f"{{{SN}}}name",)
    assert index[(f"{{{SN}}}filters", f"{{{yp}}}selection-filter")] == (f"{{{yp}}}filter-id",)
    ncm = ns.NETCONF_MONITORING
    schema_list = (f"{{{ncm}}}netconf-state", f"{{{ncm}}}schemas", f"{{{ncm}}}schema")
    assert index[schema_list] == tuple(f"{{{ncm}}}{k}" for k in ("identifier", "version", "format"))


def test_key_index_leaves_out_rpcs_and_notifications(schema: Schema) -> None:
    top = {path[0] for path in schema.key_index}

    assert f"{{{SN}}}establish-subscription" not in top
    assert f"{{{SN}}}subscription-started" not in top
    assert {p.split("}")[0][1:] for p in top} <= schema.top_level_namespaces()


def test_leaf_lists_include_our_augment_and_leave_out_rpc_output(schema: Schema) -> None:
    hw = ns.HARDWARE
    generators = (f"{{{SN}}}subscriptions", f"{{{SN}}}subscription", f"{{{ns.MSO}}}message-generator-id")

    assert generators in schema.leaf_lists
    assert (f"{{{hw}}}hardware", f"{{{hw}}}component", f"{{{hw}}}contains-child") in schema.leaf_lists
    assert not [p for p in schema.leaf_lists if p[0] == f"{{{SN}}}establish-subscription"]
    assert not set(schema.key_index) & schema.leaf_lists


def test_prefix_namespaces_bind_the_prefixes_of_implemented_modules(schema: Schema) -> None:
    assert schema.prefix_namespaces["mso"] == ns.MSO
    assert schema.prefix_namespaces["if"] == IF
    assert "inet" not in schema.prefix_namespaces  # ietf-inet-types is import-only


def test_top_level_namespaces(schema: Schema) -> None:
    namespaces = schema.top_level_namespaces()

    assert {IF, ns.HARDWARE, SN, ns.NACM, ns.YANG_LIBRARY, ns.NETCONF_MONITORING} <= namespaces
    assert not {ns.MSO, ns.NETCONF_BASE, ns.IANA_IF_TYPE} & namespaces  # augments, rpcs, identities only


# ---- validation ----------------------------------------------------------------------------


def test_valid_interface_config_is_accepted(schema: Schema) -> None:
    schema.validate_config(
        datastore(interfaces(f"{ETH}<enabled>false</enabled>", "<name>lo</name><type>ianaift:softwareLoopback</type>"))
    )


def test_unknown_element_is_rejected_with_its_parent_path(schema: Schema) -> None:
    error = rejection(schema, interfaces(f"{ETH}<colour>blue</colour>"))

    assert error.error_tag == "unknown-element"
    assert error.error_path == ETH_PATH
    assert error.path_namespaces == {"if": IF}
    assert error.bad_element == "colour"


def test_value_of_the_wrong_type_is_an_invalid_value(schema: Schema) -> None:
    error = rejection(schema, interfaces(f'{ETH}<ipv4 xmlns="{IP}"><mtu>abc</mtu></ipv4>'))

    assert error.error_tag == "invalid-value"
    assert error.error_path == f"{ETH_PATH}/ip:ipv4/ip:mtu"
    assert error.path_namespaces == {"if": IF, "ip": IP}
    assert error.path_namespaces.items() <= schema.prefix_namespaces.items()
    assert "abc" in error.error_message


def test_value_out_of_range_is_an_invalid_value(schema: Schema) -> None:
    error = rejection(schema, interfaces(f'{ETH}<ipv4 xmlns="{IP}"><mtu>10</mtu></ipv4>'))

    assert (error.error_tag, error.error_path) == ("invalid-value", f"{ETH_PATH}/ip:ipv4/ip:mtu")


@pytest.mark.parametrize(("selector", "words"), [("/if:interfaces/if:interface[", "XPath"),
                                                  ("/nowhere:interfaces", "nowhere")])
def test_an_xpath_value_that_does_not_parse_is_an_invalid_value(schema: Schema, selector: str, words: str) -> None:
    job = (f'<SubNetwork xmlns="{ns.NRM}"><id>d</id><MessageBrokingFunction xmlns="{ns.MESSAGE_BUS}"><id>b</id>'
           f"<MessageBusDataReportingJob><id>j</id><attributes><topic>t</topic>"
           f'<dataSelector xmlns:if="{IF}">{selector}</dataSelector></attributes></MessageBusDataReportingJob>'
           "</MessageBrokingFunction></SubNetwork>")
    error = rejection(schema, job)

    assert error.error_tag == "invalid-value" and words in error.error_message
    assert error.error_path is not None and error.error_path.endswith("/mbus:attributes/mbus:dataSelector")


def test_a_part_of_the_operational_datastore_is_validated_as_its_modules_complete_data(schema: Schema) -> None:
    def subnetwork(state: str) -> str:
        return (f'<SubNetwork xmlns="{ns.NRM}"><id>d</id><MessageBrokingFunction xmlns="{ns.MESSAGE_BUS}"><id>b</id>'
                f"<attributes><operationalState>ENABLED</operationalState>{state}</attributes>"
                "</MessageBrokingFunction></SubNetwork>")

    schema.validate_operational(datastore(subnetwork("<brokerVersion>2.11</brokerVersion>")), present_only=True)
    with pytest.raises(ValidationError) as caught:
        schema.validate_operational(datastore(subnetwork("<brokerColour>blue</brokerColour>")), present_only=True)
    assert caught.value.error_tag == "unknown-element"
    with pytest.raises(ValidationError):  # the whole datastore lacks what other modules make mandatory
        schema.validate_operational(datastore(subnetwork("")))


def test_element_of_an_unknown_namespace(schema: Schema) -> None:
    error = rejection(schema, interfaces(f'{ETH}<x:speed xmlns:x="urn:example:nowhere">10G</x:speed>'))

    assert error.error_tag == "unknown-namespace"
    assert (error.bad_element, error.bad_namespace) == ("speed", "urn:example:nowhere")
    assert error.error_path == ETH_PATH


def test_top_level_element_of_an_unknown_namespace(schema: Schema) -> None:
    error = rejection(schema, '<widgets xmlns="urn:example:nowhere"/>')

    assert (error.error_tag, error.bad_element, error.error_path) == ("unknown-namespace", "widgets", None)


def test_missing_mandatory_leaf_is_data_missing(schema: Schema) -> None:
    error = rejection(schema, interfaces("<name>2/0/7</name>"))

    assert error.error_tag == "data-missing"
    assert error.error_path == "/if:interfaces/if:interface/if:type"


def test_list_entry_without_key_is_a_missing_element(schema: Schema) -> None:
    error = rejection(schema, interfaces("<type>ianaift:ethernetCsmacd</type>"))

    assert (error.error_tag, error.bad_element) == ("missing-element", "name")


def test_state_data_is_not_configuration(schema: Schema) -> None:
    error = rejection(schema, interfaces(f"{ETH}<oper-status>up</oper-status>"))

    assert (error.error_tag, error.error_path) == ("unknown-element", f"{ETH_PATH}/if:oper-status")


def test_dangling_leafref_is_data_missing_instance_required(schema: Schema) -> None:
    error = rejection(
        schema,
        f'<subscriptions xmlns="{SN}"><subscription><id>7</id><stream-filter-name>none</stream-filter-name>'
        "<stream>NETCONF</stream><receivers><receiver><name>r</name></receiver></receivers>"
        "</subscription></subscriptions>",
    )

    assert (error.error_tag, error.error_app_tag) == ("data-missing", "instance-required")
    assert error.error_path == "/sn:subscriptions/sn:subscription[sn:id='7']/sn:stream-filter-name"


def test_key_values_with_quotes_and_slashes_survive_in_the_error_path(schema: Schema) -> None:
    name = "<name>it's 1/1</name><type>ianaift:ethernetCsmacd</type>"
    error = rejection(schema, interfaces(f"{name}<enabled>maybe</enabled>"))

    assert error.error_path == "/if:interfaces/if:interface[if:name=\"it's 1/1\"]/if:enabled"
