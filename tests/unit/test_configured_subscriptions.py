"""server.configured_subscriptions: running's configured subscriptions as SubscriptionSpecs, and diff."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from mso import namespaces as ns
from mso.schema import Schema, ValidationError
from mso.subscription_model import Encoding, FilterSpec, OnChange, Periodic, Receiver, SubscriptionSpec
from server.configured_subscriptions import ConfigError, configured_subscriptions, diff

SN = ns.SUBSCRIBED_NOTIFICATIONS
YP = ns.YANG_PUSH
SNR = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notif-receivers"
UNT = "urn:ietf:params:xml:ns:yang:ietf-udp-notif-transport"
DN = "urn:ietf:params:xml:ns:yang:ietf-distributed-notif"

INSTANCES = f"""
  <receiver-instances xmlns="{SNR}">
    <receiver-instance>
      <name>collector</name>
      <udp-notif-receiver xmlns="{UNT}">
        <remote-address>127.0.0.1</remote-address>
        <remote-port>10001</remote-port>
      </udp-notif-receiver>
    </receiver-instance>
    <receiver-instance>
      <name>small-segments</name>
      <udp-notif-receiver xmlns="{UNT}">
        <remote-address>::1</remote-address>
        <remote-port>10002</remote-port>
        <enable-segmentation>false</enable-segmentation>
        <max-segment-size>1200</max-segment-size>
      </udp-notif-receiver>
    </receiver-instance>
  </receiver-instances>"""

COLLECTOR = Receiver("c1", "127.0.0.1", 10001, enable_segmentation=True, max_segment_size=None)


def receiver(name: str = "c1", instance: str = "collector") -> str:
    return (
        f"<receiver><name>{name}</name>"
        f'<receiver-instance-ref xmlns="{SNR}">{instance}</receiver-instance-ref></receiver>'
    )


XPATH_FILTER = f"""
    <datastore-xpath-filter xmlns="{YP}" xmlns:if="{ns.INTERFACES}"
        xmlns:unused="urn:example:unused">/if:interfaces/if:interface[if:name='2/0/7']</datastore-xpath-filter>"""
EVERY_5_S = f"""
    <periodic xmlns="{YP}">
      <period>500</period>
      <anchor-time>2026-01-01T00:00:00Z</anchor-time>
    </periodic>"""


def periodic(selection: str = XPATH_FILTER, trigger: str = EVERY_5_S, encoding: str = "encode-json") -> str:
    """Subscription 7: operational datastore, JSON, to receiver c1 at instance "collector"."""
    return f"""
      <subscription>
        <id>7</id>
        <datastore xmlns="{YP}" xmlns:ds="{ns.DATASTORES}">ds:operational</datastore>
        {selection}{trigger}
        <encoding>{encoding}</encoding>
        <receivers>{receiver()}</receivers>
      </subscription>"""


PERIODIC = periodic()

ON_CHANGE = f"""
  <subscription>
    <id>8</id>
    <datastore xmlns="{YP}" xmlns:ds="{ns.DATASTORES}">ds:running</datastore>
    <datastore-subtree-filter xmlns="{YP}">
      <interfaces xmlns="{ns.INTERFACES}"><interface><name>2/0/7</name></interface></interfaces>
    </datastore-subtree-filter>
    <on-change xmlns="{YP}">
      <dampening-period>100</dampening-period>
      <sync-on-start>false</sync-on-start>
      <excluded-change>create</excluded-change>
      <excluded-change>delete</excluded-change>
    </on-change>
    <encoding xmlns:unt="{UNT}">unt:encode-cbor</encoding>
    <stop-time>2026-06-30T12:00:00+02:00</stop-time>
    <receivers>{receiver("fast", "small-segments")}{receiver("c1")}</receivers>
  </subscription>"""


def running(*subscriptions: str, instances: str = INSTANCES, filters: str = "") -> etree._Element:
    """A running <data> tree with /sn:subscriptions (and /sn:filters when given)."""
    xml = (
        f'<data xmlns="{ns.NETCONF_BASE}">'
        f'{filters}<subscriptions xmlns="{SN}">{instances}{"".join(subscriptions)}</subscriptions></data>'
    )
    return etree.fromstring(xml)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def spec(sub_id: int, **fields: object) -> SubscriptionSpec:
    return SubscriptionSpec(id=sub_id, stream="NETCONF", configured=True, **fields)


# ---- the modules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "namespace", "prefix", "features"),
    [
        ("ietf-subscribed-notif-receivers", SNR, "snr", ()),
        ("ietf-udp-notif-transport", UNT, "unt", ("encode-cbor",)),
        ("ietf-distributed-notif", DN, "dn", ()),
    ],
)
def test_transport_modules_are_implemented_with_published_namespaces(
    schema: Schema, name: str, namespace: str, prefix: str, features: tuple[str, ...]
) -> None:
    module = next(m for m in schema.modules if m.name == name)

    assert (module.namespace, module.prefix, module.features, module.implemented) == (
        namespace,
        prefix,
        features,
        True,
    )
    assert "configured" in next(m for m in schema.modules if m.name == "ietf-subscribed-notifications").features


def test_message_publisher_id_is_state_on_the_subscription(schema: Schema) -> None:
    """ietf-distributed-notif's leaf-list is config false: running cannot hold it."""
    publisher_id = f'<message-publisher-id xmlns="{DN}">1</message-publisher-id>'
    data = running(PERIODIC.replace("<id>7</id>", f"<id>7</id>{publisher_id}"))

    with pytest.raises(ValidationError):
        schema.validate_config(data)


# ---- reading running ------------------------------------------------------------------------


def test_periodic_datastore_subscription_over_udp_notif(schema: Schema) -> None:
    data = running(PERIODIC)
    schema.validate_config(data)

    assert configured_subscriptions(data) == [
        SubscriptionSpec(
            id=7,
            datastore="ds:operational",
            filter=FilterSpec(
                kind="xpath",
                xpath="/if:interfaces/if:interface[if:name='2/0/7']",
                namespaces=(("if", ns.INTERFACES),),
            ),
            trigger=Periodic(period_cs=500, anchor_time=datetime(2026, 1, 1, tzinfo=timezone.utc)),
            encoding=Encoding.JSON,
            configured=True,
            receivers=(COLLECTOR,),
        )
    ]


def test_on_change_subscription_with_cbor_and_two_receivers(schema: Schema) -> None:
    data = running(ON_CHANGE)
    schema.validate_config(data)

    [parsed] = configured_subscriptions(data)

    assert parsed.datastore == "ds:running"
    assert parsed.trigger == OnChange(dampening_cs=100, sync_on_start=False, excluded_changes=("create", "delete"))
    assert parsed.encoding is Encoding.CBOR
    assert parsed.stop_time == datetime(2026, 6, 30, 12, tzinfo=timezone(timedelta(hours=2)))
    assert parsed.receivers == (
        Receiver("fast", "::1", 10002, enable_segmentation=False, max_segment_size=1200),
        COLLECTOR,
    )
    subtree = etree.fromstring(parsed.filter.subtree_xml)
    assert parsed.filter.kind == "subtree"
    assert subtree.tag == ns.qn(ns.INTERFACES, "interfaces")
    assert subtree.findtext(f"{{{ns.INTERFACES}}}interface/{{{ns.INTERFACES}}}name") == "2/0/7"


def test_stream_subscription_with_xpath_filter() -> None:
    """A stream target is a leafref to the state list /sn:streams, so this one is not validated
    against running alone."""
    stream = f"""
      <subscription>
        <id>3</id>
        <stream-xpath-filter xmlns:sn="{SN}">/sn:subscription-started</stream-xpath-filter>
        <stream>NETCONF</stream>
        <receivers>{receiver()}</receivers>
      </subscription>"""

    assert configured_subscriptions(running(stream)) == [
        spec(
            3,
            filter=FilterSpec(kind="xpath", xpath="/sn:subscription-started", namespaces=(("sn", SN),)),
            receivers=(COLLECTOR,),
        )
    ]


def test_named_selection_filter_is_resolved(schema: Schema) -> None:
    filters = f"""
      <filters xmlns="{SN}">
        <selection-filter xmlns="{YP}">
          <filter-id>ports</filter-id>
          <datastore-xpath-filter xmlns:if="{ns.INTERFACES}">/if:interfaces</datastore-xpath-filter>
        </selection-filter>
      </filters>"""
    by_reference = periodic(selection=f'<selection-filter-ref xmlns="{YP}">ports</selection-filter-ref>')
    data = running(by_reference, filters=filters)
    schema.validate_config(data)

    [parsed] = configured_subscriptions(data)

    assert parsed.filter == FilterSpec(kind="xpath", xpath="/if:interfaces", namespaces=(("if", ns.INTERFACES),))


def test_no_subscriptions_container_means_none() -> None:
    assert configured_subscriptions(etree.Element(ns.qn(ns.NETCONF_BASE, "data"))) == []


# ---- what the Master refuses ---------------------------------------------------------------


def test_unresolved_receiver_instance_ref(schema: Schema) -> None:
    data = running(PERIODIC.replace(">collector<", ">nowhere<"))

    with pytest.raises(ConfigError) as caught:
        configured_subscriptions(data)

    assert (caught.value.error_tag, caught.value.error_app_tag) == ("data-missing", "instance-required")
    assert caught.value.error_path == (
        "/sn:subscriptions/sn:subscription[sn:id='7']/sn:receivers/sn:receiver[sn:name='c1']"
        "/snr:receiver-instance-ref"
    )
    with pytest.raises(ValidationError) as validated:
        schema.validate_config(data)
    assert (validated.value.error_tag, validated.value.error_app_tag) == ("data-missing", "instance-required")


def test_datastore_subscription_without_trigger(schema: Schema) -> None:
    data = running(periodic(trigger=""))
    schema.validate_config(data)  # the schema allows it; RFC 8641 subscriptions need a trigger

    with pytest.raises(ConfigError) as caught:
        configured_subscriptions(data)

    assert (caught.value.error_tag, caught.value.error_app_tag) == ("data-missing", "missing-choice")
    assert caught.value.error_path == "/sn:subscriptions/sn:subscription[sn:id='7']"


def test_unknown_encoding_identity() -> None:
    data = running(periodic(encoding="x:encode-yaml").replace("<encoding>", '<encoding xmlns:x="urn:x">'))

    with pytest.raises(ConfigError) as caught:
        configured_subscriptions(data)

    assert caught.value.error_app_tag == "ietf-subscribed-notifications:encoding-unsupported"
    assert caught.value.error_path == "/sn:subscriptions/sn:subscription[sn:id='7']/sn:encoding"


def test_receiver_without_instance_ref() -> None:
    data = running(PERIODIC.replace(receiver(), "<receiver><name>c1</name></receiver>"))

    with pytest.raises(ConfigError) as caught:
        configured_subscriptions(data)

    assert caught.value.error_tag == "data-missing"
    assert caught.value.error_path.endswith("sn:receiver[sn:name='c1']/snr:receiver-instance-ref")


def test_subscription_to_another_transport_is_left_out() -> None:
    """An instance of a transport the Master does not deliver (no udp-notif-receiver)."""
    https = '<receiver-instance><name>https</name><https-receiver xmlns="urn:example:https"/></receiver-instance>'
    other = INSTANCES.replace("</receiver-instances>", f"{https}</receiver-instances>")
    to_https = PERIODIC.replace(receiver(), receiver("h", "https"))

    assert [s.id for s in configured_subscriptions(running(to_https, ON_CHANGE, instances=other))] == [8]


def test_udp_notif_remote_port_is_mandatory(schema: Schema) -> None:
    """The inline stand-in for the draft's udp-client grouping keeps its refine to mandatory."""
    without_port = INSTANCES.replace("<remote-port>10001</remote-port>", "")

    with pytest.raises(ValidationError) as caught:
        schema.validate_config(running(PERIODIC, instances=without_port))

    assert caught.value.error_tag == "data-missing"
    assert caught.value.error_path.endswith("unt:udp-notif-receiver/unt:remote-port")


# ---- diff ------------------------------------------------------------------------------------


def test_diff_names_added_removed_and_modified() -> None:
    old = [spec(1), spec(2), spec(3, encoding=Encoding.JSON)]
    new = [spec(3, encoding=Encoding.CBOR), spec(1), spec(4)]

    assert diff(old, new) == ([spec(4)], [spec(2)], [spec(3, encoding=Encoding.CBOR)])


@settings(max_examples=200, deadline=None)
@given(
    old_ids=st.sets(st.integers(1, 40)),
    new_ids=st.sets(st.integers(1, 40)),
    changed=st.sets(st.integers(1, 40)),
)
def test_diff_partitions_by_id(old_ids: set[int], new_ids: set[int], changed: set[int]) -> None:
    old = [spec(i) for i in sorted(old_ids)]
    new = [spec(i, encoding=Encoding.JSON if i in changed else Encoding.XML) for i in sorted(new_ids)]

    added, removed, modified = diff(old, new)

    assert {s.id for s in added} == new_ids - old_ids
    assert {s.id for s in removed} == old_ids - new_ids
    assert {s.id for s in modified} == old_ids & new_ids & changed
    assert all(s in new for s in added + modified) and all(s in old for s in removed)
