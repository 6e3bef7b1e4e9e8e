"""The collector the Master runs for its reporting jobs: ``mso collector`` as a supervised child
(server/ never imports collector/), reassembling the jobs' subscriptions into their topics.

It keeps one UDP port for its life, so a restarted child is reached at the same receiver; after
a restart ``on_restart`` runs, so the Master can announce the subscriptions again (the child
knows a subscription only from its state notifications).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from mso import bus
from server.nrm.supervised_child import SupervisedChild

_LISTENING = re.compile(r"listening on (?P<host>[^\s:]+):(?P<port>\d+)")


class CollectorProcess(SupervisedChild):
    def __init__(self, log_path: Path, *, broker_url: str, user: str, password: str,
                 on_restart: Callable[[], None] = lambda: None) -> None:
        self._broker_url = broker_url
        self._user = user
        self._on_restart = on_restart
        self.address: tuple[str, int] | None = None
        super().__init__("collector", log_path, self._command, ready=_LISTENING,
                         env={bus.PASSWORD_VARIABLE: password}, on_ready=self._listening)

    def _command(self) -> list[str]:
        listen = "127.0.0.1:%d" % (self.address[1] if self.address else 0)
        return [sys.executable, "-m", "mso", "collector", "--listen", listen, "--nats", self._broker_url,
                "--nats-user", self._user, "--bus-routes", "--log-level", "warning"]

    def _listening(self, match: re.Match[str], again: bool) -> None:
        self.address = (match["host"], int(match["port"]))
        if again:
            self._on_restart()
