"""Hostile XML from the network is refused before any handler sees it."""

import pytest
from lxml import etree

from mso.framing import FrameDecoder, frame_chunked
from mso.xml_parsing import MalformedXML, XmlLimitExceeded, XmlLimits, check_limits, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<rpc>&lol2;</rpc>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rpc>&x;</rpc>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE, b"<!DOCTYPE rpc><rpc/>"])
def test_documents_with_a_dtd_are_refused(document):
    with pytest.raises(MalformedXML, match="DTD"):
        parse_xml(document)


def test_nesting_deeper_than_libxml2_limit_is_refused():
    depth = 300
    with pytest.raises(MalformedXML):
        parse_xml(b"<a>" * depth + b"</a>" * depth)


def test_reasonable_nesting_parses():
    depth = 100
    assert parse_xml(b"<a>" * depth + b"</a>" * depth).tag == "a"


@pytest.mark.parametrize("document", [b"", b"<a>", b"<a></b>", b"not xml", b"<a/><b/>"])
def test_malformed_documents_raise_malformed_xml(document):
    with pytest.raises(MalformedXML):
        parse_xml(document)


def test_comments_and_processing_instructions_are_dropped():
    root = parse_xml(b"<rpc><!-- c --><?pi x?><get/></rpc>")
    assert [child.tag for child in root] == ["get"]


HELLO = b'<?xml version="1.0" encoding="utf-8"?>\n<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>'


@pytest.mark.parametrize("before", [b"\n", b"\r\n", b"  \t\n   "])
def test_whitespace_before_the_xml_declaration_is_accepted(before):
    # scrapli-netconf sends "\n<?xml ...?>" for its hello and every rpc
    assert etree.QName(parse_xml(before + HELLO)).localname == "hello"


def test_whitespace_after_the_declaration_and_after_the_root_is_accepted():
    document = b'\n<?xml version="1.0"?>\n\n  <rpc message-id="1"><get/></rpc>\n  \n'
    assert parse_xml(document).get("message-id") == "1"


def test_a_chunked_message_that_starts_with_a_newline_parses():
    decoder = FrameDecoder()
    decoder.hello_done(chunked=True)
    body = b'\n<?xml version="1.0"?><rpc message-id="7"><get/></rpc>'
    [message] = decoder.feed(frame_chunked(body))
    assert parse_xml(message).get("message-id") == "7"


@pytest.mark.parametrize("document", [
    b'x<?xml version="1.0"?><rpc/>',                           # text before the declaration
    b'\x0c<?xml version="1.0"?><rpc/>',                        # form feed is not XML whitespace
    b'\xc2\xa0<?xml version="1.0"?><rpc/>',                    # nor is a no-break space
    b'<!-- c --><?xml version="1.0"?><rpc/>',                  # a comment before the declaration
    b'<?xml version="1.0"?>\n<?xml version="1.0"?><rpc/>',     # two declarations
    b'<rpc/><?xml version="1.0"?>',                            # a declaration after the root
    b"\n \t\r\n",                                              # nothing but whitespace
])
def test_anything_else_before_or_around_the_declaration_is_still_malformed(document):
    with pytest.raises(MalformedXML):
        parse_xml(document)


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE])
def test_leading_whitespace_does_not_let_a_dtd_through(document):
    with pytest.raises(MalformedXML, match="DTD"):
        parse_xml(b"\n  " + document)


LIMITS = XmlLimits(max_attributes=3, max_namespaces=2, max_depth=4, max_name_length=20)


@pytest.mark.parametrize("document, words", [
    (b'<rpc a="1" b="2" c="3" d="4"/>', "4 attributes; at most 3"),
    (b'<rpc xmlns:a="u1" xmlns:b="u2" xmlns:c="u3"/>', "more than 2 namespaces"),
    (b"<a><b><c><d><e/></d></c></b></a>", "nested 5 deep; at most 4"),
    (b"<" + b"n" * 21 + b"/>", "element name is longer than 20"),
    (b'<rpc xmlns="urn:a-long-namespace-uri"/>', "element name is longer than 20"),
    (b'<rpc ' + b"a" * 21 + b'="1"/>', "attribute name of <rpc> is longer than 20"),
])
def test_a_request_past_a_limit_is_refused_with_what_it_exceeds(document, words):
    with pytest.raises(XmlLimitExceeded, match=words):
        check_limits(parse_xml(document), LIMITS)


def test_a_request_at_the_limits_passes():
    # three attributes, two declarations on each element, four levels: all exactly at the limit
    root = parse_xml(b'<a x="1" y="2" z="3" xmlns:p="u1" xmlns:q="u2"><b xmlns:r="u3" xmlns:s="u4"><c><d/></c>'
                     b'</b><b/></a>')
    check_limits(root, LIMITS)


def test_the_default_limits_hold_a_netconf_edit():
    edit = (b'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><edit-config><target><running/>'
            b'</target><config><interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"'
            b' xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><interface nc:operation="replace"><name>x</name>'
            b'</interface></interfaces></config></edit-config></rpc>')
    check_limits(parse_xml(edit), XmlLimits())
