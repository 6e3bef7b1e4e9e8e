"""Hostile XML from the network is refused before any handler sees it."""

import pytest

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
