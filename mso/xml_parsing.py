"""Parsing XML that arrives from the network.

Entities are never resolved, the network is never touched and DTDs are refused outright, so
XXE and "billion laughs" documents are rejected; libxml2's own limits (no ``huge_tree``) bound
the nesting depth at 256 and the size of a text node.

Whitespace before the XML declaration is forgiven: XML 1.0 wants the declaration at the very
first byte, but some clients (scrapli-netconf) send a newline between the framing and every
message, and other servers accept that. Whitespace after the declaration and after the root
element is already allowed by XML itself. Nothing else is relaxed.
"""

from __future__ import annotations

from lxml import etree

_XML_WHITESPACE = b" \t\r\n"  # the S production of XML 1.0 §2.3
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


class MalformedXML(ValueError):
    """The bytes are not a well-formed, DTD-free XML document."""


def parse_xml(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data.lstrip(_XML_WHITESPACE), _PARSER)
    except etree.XMLSyntaxError as error:
        raise MalformedXML(str(error)) from None
    if root is None:
        raise MalformedXML("empty document")
    doctype = root.getroottree().docinfo.doctype
    if doctype:
        raise MalformedXML("DTDs are not accepted")
    return root


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname
