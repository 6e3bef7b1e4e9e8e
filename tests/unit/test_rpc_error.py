"""rpc-error: the RFC 6241 Appendix A tag/type table is enforced and the XML round-trips."""

import pytest
from lxml import etree

from mso.namespaces import NETCONF_BASE
from mso.rpc_error import RpcError, info_element


def test_round_trip_through_xml():
    error = RpcError(
        "invalid-value", "mtu too large", type="application", app_tag="too-big-mtu",
        path="/if:interfaces/if:interface[if:name='1/0/1']/if:mtu",
        path_namespaces={"if": "urn:ietf:params:xml:ns:yang:ietf-interfaces"},
        info=[info_element("bad-element", "mtu")],
    )
    parsed = RpcError.from_element(etree.fromstring(etree.tostring(error.to_element())))
    assert (parsed.tag, parsed.type, parsed.app_tag, parsed.path, parsed.message) == (
        "invalid-value", "application", "too-big-mtu", error.path, "mtu too large")
    assert parsed.path_namespaces == error.path_namespaces
    assert [(etree.QName(i).localname, i.text) for i in parsed.info] == [("bad-element", "mtu")]


def test_element_order_follows_rfc6241():
    element = RpcError("lock-denied", "held", type="protocol", info=[info_element("session-id", "3")]).to_element()
    assert [etree.QName(c).localname for c in element] == [
        "error-type", "error-tag", "error-severity", "error-message", "error-info"]
    assert element.nsmap[None] == NETCONF_BASE


@pytest.mark.parametrize("tag, error_type", [("lock-denied", "application"), ("data-exists", "protocol"),
                                              ("malformed-message", "application")])
def test_tag_with_a_type_appendix_a_does_not_allow(tag, error_type):
    with pytest.raises(ValueError):
        RpcError(tag, type=error_type)


def test_unknown_tag():
    with pytest.raises(ValueError):
        RpcError("it-broke")
