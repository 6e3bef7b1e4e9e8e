"""Parsing XML that arrives from the network.

Entities are never resolved, the network is never touched and DTDs are refused outright, so
XXE and "billion laughs" documents are rejected; libxml2's own limits (no ``huge_tree``) bound
the nesting depth at 256 and the size of a text node.
"""

from __future__ import annotations

from lxml import etree

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
        root = etree.fromstring(data, _PARSER)
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
