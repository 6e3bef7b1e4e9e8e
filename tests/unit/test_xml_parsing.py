"""Hostile XML from the network is refused before any handler sees it."""

import pytest
from lxml import etree

from mso.framing import FrameDecoder, frame_chunked
from mso.xml_parsing import MalformedXML, parse_xml

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
