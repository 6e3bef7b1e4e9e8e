"""Parsing XML that arrives from the network.

Entities are never resolved, the network is never touched and DTDs are refused outright, so
XXE and "billion laughs" documents are rejected; libxml2's own limits (no ``huge_tree``) bound
the nesting depth at 256 and the size of a text node.

A request from a NETCONF peer is also held to ``XmlLimits``: parsing 100,000 attributes is
quick, but every later step that reads an element's attributes or namespaces (lxml builds them
one by one) costs their square, so a message past the limits is refused before anything reads it.

Whitespace before the XML declaration is forgiven: XML 1.0 wants the declaration at the very
first byte, but some clients (scrapli-netconf) send a newline between the framing and every
message, and other servers accept that. Whitespace after the declaration and after the root
element is already allowed by XML itself. Nothing else is relaxed.
"""

from __future__ import annotations

from dataclasses import dataclass

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


class XmlLimitExceeded(ValueError):
    """A well-formed document goes past what a request may hold (see :class:`XmlLimits`)."""


@dataclass(frozen=True)
class XmlLimits:
    """What one request may hold. YANG data uses no attributes but NETCONF's own (operation,
    message-id, select...), few namespaces and nesting far below these."""

    max_attributes: int = 64  # on one element
    max_namespaces: int = 256  # declared on one element
    max_depth: int = 64
    max_name_length: int = 1024  # an element's or attribute's {namespace}name


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


def check_limits(root: etree._Element, limits: XmlLimits) -> None:
    """Raise ``XmlLimitExceeded`` if ``root`` goes past ``limits``. One walk over the tree,
    reading each element's attributes once and its namespace declarations as events, so the
    check itself is linear in what it refuses."""
    depth = namespaces = 0
    for event, node in etree.iterwalk(root, events=("start", "end", "start-ns")):
        if event == "start-ns":
            namespaces += 1
            if namespaces > limits.max_namespaces:
                raise XmlLimitExceeded(f"an element declares more than {limits.max_namespaces} namespaces")
        elif event == "start":
            namespaces = 0
            depth += 1
            _check_element(node, depth, limits)
        else:
            depth -= 1


def _check_element(element: etree._Element, depth: int, limits: XmlLimits) -> None:
    name = etree.QName(element).localname
    if depth > limits.max_depth:
        raise XmlLimitExceeded(f"<{name}> is nested {depth} deep; at most {limits.max_depth} levels are accepted")
    if len(element.tag) > limits.max_name_length:
        raise XmlLimitExceeded(f"an element name is longer than {limits.max_name_length} characters")
    attributes = element.attrib
    count = len(attributes)
    if count > limits.max_attributes:
        raise XmlLimitExceeded(f"<{name}> carries {count} attributes; at most {limits.max_attributes} are accepted")
    if count and max(len(key) for key in attributes.keys()) > limits.max_name_length:
        raise XmlLimitExceeded(f"an attribute name of <{name}> is longer than {limits.max_name_length} characters")


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname
