"""The structured log as an observer: one logfmt line per RPC (refused ones included), per
subscription start, change and end, and, at debug level, per notification and push summary."""

from __future__ import annotations

import logging

from lxml import etree

from server.observation import NotificationSent, Observer, PushesSent, RpcEvent, SubscriptionChange

log = logging.getLogger("mso.master")


def _local(name: str | None) -> str:
    return etree.QName(name).localname if name else "-"


class ActivityLog(Observer):
    def rpc(self, event: RpcEvent) -> None:
        fields = {
            "session-id": event.principal.session_id,
            "user": event.principal.user,
            "op": _local(event.operation),
            "message-id": event.message_id,
            "outcome": "error" if event.error else "ok",
            "ms": f"{event.seconds * 1000:.3f}",
        }
        if event.error is not None:
            fields["error-tag"] = event.error.tag
        log.info("rpc", extra={"fields": fields})

    def subscription(self, event: SubscriptionChange) -> None:
        log.info(f"subscription-{event.change}", extra={"fields": {
            "id": event.spec.id, "user": event.owner.user, "receivers": ",".join(event.receivers),
            "generators": ",".join(event.generators), "reason": event.reason or "-"}})

    def notification(self, event: NotificationSent) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("notification", extra={"fields": {"name": _local(event.name), "id": event.subscription_id,
                                                        "receiver": event.receiver}})

    def pushes(self, event: PushesSent) -> None:
        if log.isEnabledFor(logging.DEBUG):
            counts = ",".join(f"{_local(name)}={count}" for name, count in event.counts.items())
            log.debug("pushes", extra={"fields": {"id": event.subscription_id, "counts": counts}})
