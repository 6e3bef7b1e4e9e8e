"""The 3GPP Logging NRM as running holds it (``mso-3gpp-logging``): the LogRegistry, its LogInfo
logs and what each selects, and the rules the schema cannot say.

Pure: reading a ``<data>`` tree, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from mso.date_and_time import parse_datetime
from mso.instance_path import xpath_literal
from mso.namespaces import LOGGING, NRM, qn

PATH_NAMESPACES = {"nrm": NRM, "log3gpp": LOGGING}
PROV, FAULT, STREAMING, FILE = ("ProvMnS", "FaultSupervisionMnS", "StreamingDataReportingMnS",
                                "FileDataReportingMnS")


class LoggingConfigError(Exception):
    """A logging configuration the Master refuses, with what an rpc-error needs."""

    def __init__(self, error_tag: str, message: str, path: str, app_tag: str | None = None) -> None:
        super().__init__(message)
        self.error_tag = error_tag
        self.message = message
        self.path = path
        self.app_tag = app_tag


@dataclass(frozen=True)
class LogInfo:
    id: str
    path: str
    categories: frozenset[str]
    names: frozenset[str]  # "module:name" of operations and notifications
    end_time: datetime
    max_size: int
    wrap: bool  # logFullAction wrap (else halt)


@dataclass(frozen=True)
class LogRegistry:
    subnetwork: str
    id: str
    path: str
    max_logs: int
    logs: tuple[LogInfo, ...]

    def log(self, log_id: str) -> LogInfo | None:
        return next((log for log in self.logs if log.id == log_id), None)


def read_logging_config(running: etree._Element) -> LogRegistry | None:
    """The device's LogRegistry (``check`` refuses a second one), or None."""
    registries = _registries(running)
    if not registries:
        return None
    subnetwork, registry = registries[0]
    ids = _text(subnetwork, NRM, "id"), _text(registry, LOGGING, "id")
    path = _registry_path(*ids)
    attributes = registry.find(qn(LOGGING, "attributes"))
    max_logs = int(_leaf(attributes, "maxLogs") or 0)
    logs = tuple(_log_info(entry, path) for entry in registry.iterchildren(qn(LOGGING, "LogInfo")))
    return LogRegistry(*ids, path, max_logs, logs)


def check(running: etree._Element) -> None:
    """One LogRegistry per device, at most maxLogs logs in it, and each log selecting by exactly
    one of mNSCategories and mNSToBeLogged."""
    registries = _registries(running)
    if len(registries) > 1:
        subnetwork, registry = registries[1]
        raise LoggingConfigError("operation-failed", "this device keeps one LogRegistry",
                                 _registry_path(_text(subnetwork, NRM, "id"), _text(registry, LOGGING, "id")),
                                 "too-many-elements")
    config = read_logging_config(running)
    if config is None:
        return
    if len(config.logs) > config.max_logs:
        raise LoggingConfigError("resource-denied", f"LogRegistry {config.id!r} may hold {config.max_logs} "
                                 f"LogInfo (maxLogs), not {len(config.logs)}", config.logs[config.max_logs].path)
    for log in config.logs:
        if bool(log.categories) == bool(log.names):
            which = "both" if log.categories else "neither"
            raise LoggingConfigError("invalid-value", f"LogInfo {log.id!r} gives {which} of mNSCategories and "
                                     "mNSToBeLogged: exactly one is needed", f"{log.path}/log3gpp:attributes")


def _registries(running: etree._Element) -> list[tuple[etree._Element, etree._Element]]:
    return [(subnetwork, registry) for subnetwork in running.iterchildren(qn(NRM, "SubNetwork"))
            for registry in subnetwork.iterchildren(qn(LOGGING, "LogRegistry"))]


def _registry_path(subnetwork: str, registry: str) -> str:
    return (f"/nrm:SubNetwork[nrm:id={xpath_literal(subnetwork)}]"
            f"/log3gpp:LogRegistry[log3gpp:id={xpath_literal(registry)}]")


def _log_info(entry: etree._Element, registry_path: str) -> LogInfo:
    log_id = _text(entry, LOGGING, "id")
    attributes = entry.find(qn(LOGGING, "attributes"))
    listed = (lambda name: frozenset() if attributes is None else
              frozenset((leaf.text or "").strip() for leaf in attributes.iterchildren(qn(LOGGING, name))))
    return LogInfo(id=log_id, path=f"{registry_path}/log3gpp:LogInfo[log3gpp:id={xpath_literal(log_id)}]",
                   categories=listed("mNSCategories"), names=listed("mNSToBeLogged"),
                   end_time=parse_datetime(_leaf(attributes, "endTime") or "1970-01-01T00:00:00Z"),
                   max_size=int(_leaf(attributes, "maxSize") or 1),
                   wrap=(_leaf(attributes, "logFullAction") or "halt") == "wrap")


def _leaf(attributes: etree._Element | None, name: str) -> str | None:
    if attributes is None:
        return None
    text = attributes.findtext(qn(LOGGING, name))
    return None if text is None else text.strip()


def _text(element: etree._Element, namespace: str, tag: str) -> str:
    return (element.findtext(qn(namespace, tag)) or "").strip()
