"""The message-bus MnS as running holds it: reading, the rules beyond the schema, what a
reporting job asks of the device, and the broker's grants for a polling job's consumer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from mso import bus
from mso.namespaces import NETCONF_BASE
from mso.subscription_model import EPOCH, Encoding, Periodic, Receiver
from server.nrm.message_bus_config import BusConfigError, check, check_one_function, job_subscription, read_bus_config
from tests.bus_support import bus_edit, polling_job, reporting_job

SELECTOR = "/if:interfaces/if:interface[if:name='1/0/1']"


def running(*jobs: str, endpoint: str | None = "nats://127.0.0.1:4222") -> etree._Element:
    config = etree.fromstring(bus_edit(endpoint, *jobs)).find(f"{{{NETCONF_BASE}}}config")
    data = etree.Element(f"{{{NETCONF_BASE}}}data")
    data.extend(config)
    return data


def test_jobs_are_read_with_their_defaults_and_prefixes() -> None:
    config = read_bus_config(running(reporting_job("pm", "ifaces", SELECTOR, period_cs=200),
                                     polling_job("a", "alice", "alice-secret", ["ifaces"], start="NEW_ONLY"),
                                     endpoint=None))
    assert config is not None and config.endpoint == bus.DEFAULT_ENDPOINT
    (job,) = config.reporting
    assert (job.topic, job.data_type, job.period_cs, job.encoding, job.unlocked) == (
        "ifaces", "PERFORMANCE", 200, Encoding.JSON, True)
    assert job.selector is not None and dict(job.selector.namespaces) == {
        "if": "urn:ietf:params:xml:ns:yang:ietf-interfaces"}
    (reader,) = config.polling
    assert (reader.consumer, reader.topics, reader.start) == ("alice", ("ifaces",), "NEW_ONLY")
    assert reader.path.endswith("/mbus:MessageBusDataPollingJob[mbus:id='a']")


def test_a_reporting_job_asks_for_a_periodic_configured_subscription_to_its_collector() -> None:
    config = read_bus_config(running(reporting_job("pm", "ifaces", SELECTOR, period_cs=200)))
    receiver = Receiver("mso-bus-collector", "127.0.0.1", 5000)
    spec = job_subscription(config.reporting[0], 2**31, [receiver])
    assert spec is not None
    # on the epoch's grid, so collections of one period share each reading of a card
    assert (spec.id, spec.datastore, spec.trigger, spec.configured, spec.receivers) == (
        2**31, "ds:operational", Periodic(200, EPOCH), True, (receiver,))
    locked = read_bus_config(running(reporting_job("pm", "ifaces", SELECTOR, state="LOCKED")))
    assert job_subscription(locked.reporting[0], 2**31, [receiver]) is None


@pytest.mark.parametrize(("jobs", "tag", "path_end"), [
    ((reporting_job("a", "t", SELECTOR), reporting_job("b", "t", SELECTOR)), "data-exists",
     "[mbus:id='b']/mbus:attributes/mbus:topic"),
    ((reporting_job("a", "t", SELECTOR), polling_job("p", "c", "secret-1", ["u"])), "invalid-value",
     "/mbus:topics[.='u']"),
    ((reporting_job("a", "t", SELECTOR), polling_job("p", "c", "secret-1", ["t"]), polling_job("q", "c", "secret-2", ["t"])),
     "invalid-value", "[mbus:id='q']/mbus:attributes/mbus:consumerSecret"),
])
def test_rules_beyond_the_schema_refuse_with_the_node_at_fault(jobs: tuple[str, ...], tag: str, path_end: str) -> None:
    with pytest.raises(BusConfigError) as raised:
        check(read_bus_config(running(*jobs)))
    assert raised.value.error_tag == tag and raised.value.path.endswith(path_end)


def test_an_endpoint_that_is_not_nats_and_a_selector_that_is_not_xpath_are_refused() -> None:
    with pytest.raises(BusConfigError) as raised:
        check(read_bus_config(running(endpoint="http://broker:4222")))
    assert raised.value.path.endswith("/mbus:brokerEndpoint")
    with pytest.raises(BusConfigError) as raised:
        read_bus_config(running(reporting_job("a", "t", "/if:interfaces[")))
    assert raised.value.path.endswith("/mbus:dataSelector")


def test_one_function_per_device() -> None:
    data = running()
    data.extend(running(endpoint=None).iter("{urn:mso:yang:mso-3gpp-nrm}SubNetwork"))
    data[-1].find("{urn:mso:yang:mso-3gpp-nrm}id").text = "lab"
    with pytest.raises(BusConfigError) as raised:
        check_one_function(data)
    assert raised.value.app_tag == "too-many-elements" and "'lab'" in raised.value.path


def test_a_consumer_may_read_its_topics_through_its_own_consumers_only() -> None:
    publish, subscribe = bus.consumer_grants("alice", "a", ["t1", "t2"])
    assert subscribe == ("_INBOX.alice.>",)
    assert "$JS.API.CONSUMER.MSG.NEXT.MSO_BUS_t1.job-a" in publish
    assert "$JS.API.CONSUMER.MSG.NEXT.MSO_BUS_t2.job-a-replay" in publish
    assert "mso.jobs.alice.a" in publish
    assert not [s for s in publish if "*" in s or s.endswith("CREATE.MSO_BUS_t1.job-a")]  # no durable of its own making
    assert all(s.startswith(("$JS.API.CONSUMER.", "$JS.ACK.MSO_BUS_t", "mso.jobs.alice.")) for s in publish)


def test_a_consumer_with_two_jobs_gets_both_grants_and_the_server_configuration_is_exact() -> None:
    users = bus.merge_users([bus.BrokerUser("alice", "pw", *bus.consumer_grants("alice", "a", ["t1"])),
                             bus.BrokerUser("alice", "pw", *bus.consumer_grants("alice", "b", ["t2"])),
                             bus.BrokerUser("mso-master", "pw2")])
    assert [u.name for u in users] == ["alice", "mso-master"]
    config = json.loads(bus.server_config(bus.Endpoint("127.0.0.1", 4222), Path("/tmp/js"), users))
    alice, master = config["authorization"]["users"]
    assert "mso.jobs.alice.a" in alice["permissions"]["publish"]["allow"]
    assert "mso.jobs.alice.b" in alice["permissions"]["publish"]["allow"]
    assert "permissions" not in master and config["jetstream"]["store_dir"] == "/tmp/js"


@pytest.mark.parametrize(("uri", "loopback"), [("nats://127.0.0.1:4222", True), ("nats://localhost", True),
                                               ("nats://[::1]:4333", True), ("nats://10.0.0.1:4222", False)])
def test_endpoints(uri: str, loopback: bool) -> None:
    assert bus.parse_endpoint(uri).loopback is loopback


@pytest.mark.parametrize("uri", ["http://x:1", "nats://", "nats://host:notaport", "4222"])
def test_endpoints_that_are_not_nats_ones(uri: str) -> None:
    with pytest.raises(ValueError):
        bus.parse_endpoint(uri)
