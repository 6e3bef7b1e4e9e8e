"""An XPath filter that names a data node without a prefix is refused, the same way for get,
get-config and subscriptions: in XPath 1.0 such a name is in no namespace, YANG data never is,
so answering it would be an empty reply that hides the mistake (yangcli's unprefixed xget)."""

from __future__ import annotations

import pytest
from lxml import etree

from mso.filters import FilterError, require_prefixed_names, unprefixed_element_names
from mso.namespaces import INTERFACES, NETCONF_BASE, NETCONF_MONITORING, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
from mso.rpc_error import RpcError
from server.netconf_ops import parse_filter
from server.subscription_requests import Limits, parse_request

SN, YP = SUBSCRIBED_NOTIFICATIONS, YANG_PUSH


@pytest.mark.parametrize(("expression", "names"), [
    ("/netconf-state/capabilities", ["netconf-state", "capabilities"]),
    ("/if:interfaces/if:interface[name='2/0/7']", ["name"]),
    ("/if:interfaces/interface/if:name", ["interface"]),
    ("/if:interfaces/child::interface", ["interface"]),
    ("//interface | /if:interfaces//interface", ["interface"]),
    ("count(/counter) > 1", ["counter"]),
    ("/and/or", ["and", "or"]),                                        # names, where an operand is expected
])
def test_element_names_without_a_prefix_are_found(expression: str, names: list[str]):
    assert unprefixed_element_names(expression) == names


@pytest.mark.parametrize("expression", [
    "/if:interfaces/if:interface[if:name='2/0/7']",
    "/if:interfaces/if:interface[if:name='has no/prefix here']",     # inside a literal
    "/if:*", "/*", "//*",                                            # wildcards
    "//if:name/text() | //comment() | //node()",                     # node-type tests
    "/if:interfaces/if:interface[count(if:name) = 1 and not(if:type)]",  # functions, operators
    "/if:interfaces/@name | /if:interfaces/attribute::name",          # attributes are in no namespace
    "/if:interfaces/child::if:interface/descendant-or-self::if:name",  # axis names
    "$x/if:interfaces",                                               # a variable
    "/", "/..",
])
def test_prefixed_names_functions_axes_and_attributes_pass(expression: str):
    assert unprefixed_element_names(expression) == []
    require_prefixed_names(expression)


def test_the_error_names_every_unprefixed_name_and_says_what_to_write():
    with pytest.raises(FilterError) as raised:
        require_prefixed_names("/netconf-state/capabilities")
    message = raised.value.error_message
    assert "'netconf-state', 'capabilities'" in message
    assert "no prefix" in message and "namespace" in message and "p:netconf-state" in message
    assert raised.value.error_tag == "invalid-value"


def _element(xml: str) -> etree._Element:
    return etree.fromstring(xml)


def test_get_refuses_an_unprefixed_select_with_invalid_value():
    element = _element(f'<filter xmlns="{NETCONF_BASE}" type="xpath" select="/netconf-state/capabilities"/>')
    with pytest.raises(RpcError) as raised:
        parse_filter(element)
    assert raised.value.tag == "invalid-value"
    assert "'netconf-state'" in raised.value.message and "no prefix" in raised.value.message


def test_get_takes_the_same_path_with_prefixes():
    element = _element(f'<filter xmlns="{NETCONF_BASE}" xmlns:ncm="{NETCONF_MONITORING}" type="xpath" '
                       'select="/ncm:netconf-state/ncm:capabilities"/>')
    assert parse_filter(element).select == "/ncm:netconf-state/ncm:capabilities"


def _establish(filter_xml: str) -> etree._Element:
    return _element(f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" '
                    'xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">'
                    f'<yp:datastore>ds:operational</yp:datastore>{filter_xml}'
                    '<yp:periodic><yp:period>100</yp:period></yp:periodic></establish-subscription>')


def test_establish_subscription_refuses_an_unprefixed_datastore_xpath_filter():
    request = _establish("<yp:datastore-xpath-filter>/interfaces/interface</yp:datastore-xpath-filter>")
    with pytest.raises(RpcError) as raised:
        parse_request("establish-subscription", request, 0, Limits())
    assert raised.value.tag == "invalid-value"
    assert raised.value.app_tag == "ietf-subscribed-notifications:filter-unsupported"
    assert "'interfaces', 'interface'" in raised.value.message
    hint = raised.value.to_element().xpath("//*[local-name()='filter-failure-hint']/text()")
    assert hint and "no prefix" in hint[0]


def test_establish_subscription_refuses_an_unprefixed_stream_xpath_filter():
    request = _element(f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream>'
                       "<stream-xpath-filter>/netconf-config-change</stream-xpath-filter></establish-subscription>")
    with pytest.raises(RpcError) as raised:
        parse_request("establish-subscription", request, 0, Limits())
    assert raised.value.tag == "invalid-value" and "'netconf-config-change'" in raised.value.message


def test_establish_subscription_takes_the_prefixed_filter():
    request = _establish(f'<yp:datastore-xpath-filter xmlns:if="{INTERFACES}">'
                         "/if:interfaces/if:interface[if:name='2/0/7']</yp:datastore-xpath-filter>")
    spec = parse_request("establish-subscription", request, 0, Limits())
    assert spec.filter is not None and spec.filter.xpath == "/if:interfaces/if:interface[if:name='2/0/7']"
