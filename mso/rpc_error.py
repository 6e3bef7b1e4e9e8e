"""The NETCONF ``<rpc-error>`` (RFC 6241 §4.3, Appendix A), built by the server and read by clients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from mso.namespaces import NETCONF_BASE, qn

ERROR_TYPES = ("transport", "rpc", "protocol", "application")

# RFC 6241 Appendix A: every error-tag and the error-types it may be used with.
ERROR_TAGS: Mapping[str, tuple[str, ...]] = {
    "in-use": ("protocol", "application"),
    "invalid-value": ("protocol", "application"),
    "too-big": ("transport", "rpc", "protocol", "application"),
    "missing-attribute": ("rpc", "protocol", "application"),
    "bad-attribute": ("rpc", "protocol", "application"),
    "unknown-attribute": ("rpc", "protocol", "application"),
    "missing-element": ("protocol", "application"),
    "bad-element": ("protocol", "application"),
    "unknown-element": ("protocol", "application"),
    "unknown-namespace": ("protocol", "application"),
    "access-denied": ("protocol", "application"),
    "lock-denied": ("protocol",),
    "resource-denied": ("transport", "rpc", "protocol", "application"),
    "rollback-failed": ("protocol", "application"),
    "data-exists": ("application",),
    "data-missing": ("application",),
    "operation-not-supported": ("protocol", "application"),
    "operation-failed": ("rpc", "protocol", "application"),
    "partial-operation": ("application",),
    "malformed-message": ("rpc",),
}


@dataclass
class RpcError(Exception):
    """One ``<rpc-error>``; raise it from a handler and the session turns it into the reply."""

    tag: str
    message: str | None = None
    type: str = "application"
    app_tag: str | None = None
    path: str | None = None
    path_namespaces: Mapping[str, str] = field(default_factory=dict)
    info: Sequence[etree._Element] = ()
    severity: str = "error"

    def __post_init__(self) -> None:
        allowed = ERROR_TAGS.get(self.tag)
        if allowed is None:
            raise ValueError(f"unknown error-tag {self.tag!r}")
        if self.type not in allowed:
            raise ValueError(f"error-tag {self.tag!r} is not used with error-type {self.type!r}")
        super().__init__(self.message or self.tag)

    def to_element(self) -> etree._Element:
        error = etree.Element(qn(NETCONF_BASE, "rpc-error"), nsmap={None: NETCONF_BASE})
        etree.SubElement(error, qn(NETCONF_BASE, "error-type")).text = self.type
        etree.SubElement(error, qn(NETCONF_BASE, "error-tag")).text = self.tag
        etree.SubElement(error, qn(NETCONF_BASE, "error-severity")).text = self.severity
        if self.app_tag:
            etree.SubElement(error, qn(NETCONF_BASE, "error-app-tag")).text = self.app_tag
        if self.path:
            path = etree.SubElement(error, qn(NETCONF_BASE, "error-path"), nsmap=dict(self.path_namespaces))
            path.text = self.path
        if self.message:
            text = etree.SubElement(error, qn(NETCONF_BASE, "error-message"))
            text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
            text.text = self.message
        if self.info:
            info = etree.SubElement(error, qn(NETCONF_BASE, "error-info"))
            info.extend(self.info)
        return error

    @classmethod
    def from_element(cls, element: etree._Element) -> "RpcError":
        """Read an ``<rpc-error>`` received from a peer (tolerates unknown tags from other servers)."""

        def text(name: str) -> str | None:
            child = element.find(qn(NETCONF_BASE, name))
            return child.text.strip() if child is not None and child.text else None

        path = element.find(qn(NETCONF_BASE, "error-path"))
        info = element.find(qn(NETCONF_BASE, "error-info"))
        error = cls.__new__(cls)
        error.tag = text("error-tag") or "operation-failed"
        error.type = text("error-type") or "application"
        error.severity = text("error-severity") or "error"
        error.app_tag = text("error-app-tag")
        error.path = text("error-path")
        error.path_namespaces = {k: v for k, v in (path.nsmap if path is not None else {}).items() if k}
        error.message = text("error-message")
        error.info = list(info) if info is not None else []
        Exception.__init__(error, error.message or error.tag)
        return error


def info_element(name: str, value: str, namespace: str = NETCONF_BASE) -> etree._Element:
    """An ``<error-info>`` child such as ``<bad-element>``."""
    element = etree.Element(qn(namespace, name))
    element.text = value
    return element
