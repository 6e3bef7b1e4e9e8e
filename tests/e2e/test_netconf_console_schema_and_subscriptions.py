"""netconf-console2 beyond test_netconf_console.py: get-schema, and establish-subscription sent
with ``--rpc``. It prints notifications only after its own RFC 5277 ``--create-subscription``
(which mso does not serve), so the pushes of an RFC 8639 subscription never reach its output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from lxml import etree

from mso.namespaces import INTERFACES, NETCONF_MONITORING, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH
from tests.conftest import ServerProcess

CONSOLE = str(Path(sys.executable).with_name("netconf-console2"))
MODULE_SOURCE = Path(__file__).parents[2] / "yang" / "ietf-multiple-stream-originators@2019-10-12.yang"
ESTABLISH = (f'<establish-subscription xmlns="{SUBSCRIBED_NOTIFICATIONS}" xmlns:yp="{YANG_PUSH}" '
             'xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores"><yp:datastore>ds:operational</yp:datastore>'
             f'<yp:datastore-xpath-filter xmlns:if="{INTERFACES}">'
             "/if:interfaces/if:interface[if:name='1/0/1']/if:statistics/if:in-octets</yp:datastore-xpath-filter>"
             "<yp:periodic><yp:period>10</yp:period></yp:periodic></establish-subscription>")


def console(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CONSOLE, "--host", srv.host, "--port", str(srv.port), "-u", srv.user, "-p", srv.password, *args],
        capture_output=True, text=True, timeout=60,
    )


def test_netconf_console_get_schema(server: ServerProcess):
    result = console(server, "--get-schema", "ietf-multiple-stream-originators")
    assert result.returncode == 0, result.stderr
    data = etree.fromstring(result.stdout.encode())
    assert data.tag == f"{{{NETCONF_MONITORING}}}data"
    assert (data.text or "").strip() == MODULE_SOURCE.read_text().strip()


def test_netconf_console_establish_subscription_but_cannot_receive_its_pushes(server: ServerProcess,
                                                                              tmp_path: Path):
    (tmp_path / "establish.xml").write_text(ESTABLISH)
    # --sleep keeps the session open for 20 periods after the reply
    result = console(server, "--rpc", str(tmp_path / "establish.xml"), "--sleep", "2")
    assert result.returncode == 0, result.stderr
    assert re.search(r"<id [^>]*>\d+</id>", result.stdout)
    assert "message-generator-id" in result.stdout
    assert "<notification" not in result.stdout and "push-update" not in result.stdout
    # yet the Master did push on that session, the only one subscribed
    stats = console(server, "--ns", f"ncm={NETCONF_MONITORING}", "--get",
                    "-x", "/ncm:netconf-state/ncm:statistics/ncm:out-notifications")
    sent = re.search(r"<out-notifications>(\d+)</out-notifications>", stats.stdout)
    assert sent is not None, stats.stdout + stats.stderr
    assert int(sent[1]) >= 1
