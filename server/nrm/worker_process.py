"""The bus worker the Master runs beside its broker: ``mso bus worker`` as a supervised child,
the formatting and processing stage of the polling jobs with instructions (TS 23.288 §5A.4).
More workers (``mso bus worker`` elsewhere, with the same user) share the topics with it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mso import bus
from server.nrm.supervised_child import SupervisedChild

_SERVING = re.compile(r"mso bus worker: serving")


def bus_worker(log_path: Path, *, broker_url: str, password: str) -> SupervisedChild:
    argv = [sys.executable, "-m", "mso", "bus", "--log-level", "warning", "worker", "--bus", broker_url,
            "--user", bus.WORKER_USER]
    return SupervisedChild("bus worker", log_path, lambda: argv, ready=_SERVING, env={bus.PASSWORD_VARIABLE: password})
