"""``make demo``: the Master on 127.0.0.1:8300 with a demo user, a first look at its data, and
how to connect with netconf-console2 and ncclient. Runs until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from mso.namespaces import HARDWARE, INTERFACES
from mso.netconf_client import NetconfClient

HOST, PORT, USER, PASSWORD = "127.0.0.1", 8300, "demo", "demo"


def start_master() -> subprocess.Popen:
    master = subprocess.Popen(
        [sys.executable, "-m", "mso", "server", "--listen", f"{HOST}:{PORT}", "--user", f"{USER}:{PASSWORD}",
         "--state-dir", ".mso-state"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert master.stdout is not None
    line = master.stdout.readline()
    if "listening on" not in line:
        master.wait()
        sys.exit(f"demo: the Master did not start (exit {master.returncode}); see the lines above")
    print(line.strip(), flush=True)
    return master


async def first_look() -> None:
    client = await NetconfClient.connect(HOST, PORT, username=USER, password=PASSWORD)
    data = await client.get(subtree=f'<hardware xmlns="{HARDWARE}"/><interfaces xmlns="{INTERFACES}"/>')
    cards = data.xpath("//hw:component[hw:parent='chassis' and starts-with(hw:name, 'line-card')]/hw:name/text()",
                       namespaces={"hw": HARDWARE})
    ports = data.xpath("//if:interface/if:name/text()", namespaces={"if": INTERFACES})
    print(f"demo: session {client.session_id}: {len(client.server_capabilities)} capabilities, "
          f"{len(cards)} line cards ({', '.join(cards)}), {len(ports)} interfaces", flush=True)
    await client.close()


def main() -> None:
    master = start_master()
    try:
        asyncio.run(first_look())
        print(f"""
Connect with netconf-console2:
  .venv/bin/netconf-console2 --host {HOST} --port {PORT} -u {USER} -p {PASSWORD} --hello
  .venv/bin/netconf-console2 --host {HOST} --port {PORT} -u {USER} -p {PASSWORD} \\
      --ns if={INTERFACES} --get -x "/if:interfaces/if:interface[if:name='1/0/0']"
Connect with ncclient:
  from ncclient import manager
  m = manager.connect(host="{HOST}", port={PORT}, username="{USER}", password="{PASSWORD}",
                      hostkey_verify=False, allow_agent=False, look_for_keys=False)
  print(m.get(filter=("subtree", '<hardware xmlns="{HARDWARE}"/>')).data_xml)

The Master's structured log follows. Ctrl-C stops it.""", flush=True)
        master.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if master.poll() is None:
            os.killpg(master.pid, signal.SIGTERM)
            master.wait(10)


if __name__ == "__main__":
    main()
