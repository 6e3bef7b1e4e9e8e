"""The Master samples its own share of a subscription from templates cut to the filter when the
filter decides by keys and structure and nothing but its device holds interfaces (issue 17): the
same nodes as a snapshot filtered, and the snapshot again as soon as running configures one."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from mso.namespaces import INTERFACES, NETCONF_BASE, qn
from mso.sampling import apply_filter, selection_of
from mso.schema import Schema
from mso.subscription_model import FilterSpec
from tests.conftest import run
from tests.master_fakes import FakeSession, rpc, running_master

SHAPED = FilterSpec("subtree", f'<interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name><statistics>'
                               f"<in-octets/></statistics><oper-status/></interface><interface><name>1/0/2</name>"
                               f"<description/><oper-status/></interface></interfaces>".encode())


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def shape(data: etree._Element) -> list[tuple[str, str]]:
    """Every node's tag with its text, the counters' text left out (they move between reads)."""
    return [(node.tag, "" if node.tag == qn(INTERFACES, "in-octets") else (node.text or "").strip())
            for node in data.iter()]


def test_the_masters_share_is_rendered_from_cut_templates_until_running_configures_interfaces(
        tmp_path: Path, schema: Schema) -> None:
    async def body() -> None:
        async with running_master(tmp_path, schema, line_cards=1, ports=3) as master:
            sampler, operational, keys = master.sampler._sampler, master.operational, schema.key_index
            assert sampler._shape(SHAPED) is not None
            shaped = operational.shaped(sampler._shape(SHAPED), SHAPED, selection_of(SHAPED))
            assert shaped is not None  # the device alone holds interfaces: rendered from templates
            filtered = apply_filter(operational.snapshot(selection_of(SHAPED)), SHAPED, keys)
            assert shape(sampler.sample("ds:operational", SHAPED)) == shape(filtered)
            assert [e.text for e in shaped.iter(qn(INTERFACES, "name"))] == ["1/0/1", "1/0/2"]

            await rpc(master, FakeSession(), f'<edit-config xmlns="{NETCONF_BASE}"><target><running/></target>'
                      f'<config><interfaces xmlns="{INTERFACES}"><interface><name>1/0/2</name>'
                      f"<description>uplink</description>"
                      f'<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
                      f"</interface></interfaces></config></edit-config>")
            assert operational.shaped(sampler._shape(SHAPED), SHAPED, selection_of(SHAPED)) is None
            sampled = sampler.sample("ds:operational", SHAPED)  # read and filtered: the description is there
            assert sampled.findtext(f".//{{{INTERFACES}}}description") == "uplink"
            assert shape(sampled) == shape(apply_filter(operational.snapshot(selection_of(SHAPED)), SHAPED, keys))

    run(body())
