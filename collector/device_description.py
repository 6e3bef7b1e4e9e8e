"""The device as its Master describes itself, for a telemetry message's network-node-manifest
and yang-push-subscription: the chassis of ietf-hardware (RFC 8348) and the YANG library
(RFC 8525), read with one ``get`` when the collector connects.

ietf-platform-manifest's platform-details take the chassis's model-name as ``name`` ("Model of
the platform"), its mfg-name as ``vendor`` and its software-rev as ``software-version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

from mso.namespaces import HARDWARE, YANG_LIBRARY, qn

DEVICE_FILTER = (f'<hardware xmlns="{HARDWARE}"><component><name/><class/><parent/><mfg-name/><model-name/>'
                 f"<software-rev/></component></hardware>"
                 f'<yang-library xmlns="{YANG_LIBRARY}"><module-set><module><name/><revision/></module>'
                 f"</module-set><content-id/></yang-library>")
_MANIFEST_LEAVES = (("name", "model-name"), ("vendor", "mfg-name"), ("software-version", "software-rev"))
_MAX_LENGTH = 1023  # platform-details strings are 1..1023 characters


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    manifest: Mapping[str, str] = field(default_factory=dict)  # platform-details leaves
    content_id: str | None = None  # the YANG library's
    revisions: Mapping[str, str] = field(default_factory=dict)  # module name -> revision


def describe_device(data: etree._Element) -> DeviceDescription:
    """From the ``<data>`` of a get with DEVICE_FILTER."""
    chassis = _chassis(data)
    manifest = {}
    if chassis is not None:
        for leaf, source in _MANIFEST_LEAVES:
            text = (chassis.findtext(qn(HARDWARE, source)) or "").strip()
            if text:
                manifest[leaf] = text[:_MAX_LENGTH]
    library = data.find(qn(YANG_LIBRARY, "yang-library"))
    revisions: dict[str, str] = {}
    content_id = None
    if library is not None:
        content_id = (library.findtext(qn(YANG_LIBRARY, "content-id")) or "").strip() or None
        for module in library.iter(qn(YANG_LIBRARY, "module")):
            name = (module.findtext(qn(YANG_LIBRARY, "name")) or "").strip()
            revision = (module.findtext(qn(YANG_LIBRARY, "revision")) or "").strip()
            if name and revision:
                revisions[name] = revision
    return DeviceDescription(manifest, content_id, revisions)


def _chassis(data: etree._Element) -> etree._Element | None:
    """The component of class chassis (iana-hardware), else the one without a parent."""
    components = list(data.iter(qn(HARDWARE, "component")))
    for component in components:
        if (component.findtext(qn(HARDWARE, "class")) or "").strip().rpartition(":")[2] == "chassis":
            return component
    return next((c for c in components if c.find(qn(HARDWARE, "parent")) is None), None)
