"""The receive path without sockets: datagrams in, records out, every refusal counted."""

from __future__ import annotations

import random
from collections import Counter

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from collector import payload_readers
from collector.decoding import EventDecoder
from collector.knowledge import Knowledge, Policy
from collector.merge import Merger, list_keys
from collector.outputs import Outputs
from collector.pipeline import Pipeline
from collector.reassembly import Reassembly, Record
from collector.stats import Stats
from mso.namespaces import INTERFACES, NETCONF_BASE
from mso.date_and_time import format_epoch
from mso.notification_encoding import EnvelopeCodec
from mso.schema import Schema
from mso.subscription_model import Encoding, Periodic, SubscriptionSpec
from mso.subscription_runner import push_update
from mso.udp_notif import MediaType, encode_message
from mso.yang_json import YangJson
from server.subscription_state import state_notification

T0 = 1_800_000_000.0
MEDIA = {Encoding.JSON: MediaType.JSON, Encoding.XML: MediaType.XML, Encoding.CBOR: MediaType.CBOR}


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture(scope="module", params=["fast readers", "general decoder"])
def parts(schema: Schema, request) -> tuple[EnvelopeCodec, YangJson, Merger, dict | None]:
    """What a pipeline is built from that takes a while; shared by the fuzzed examples. Every
    test runs with the C readers of XML and CBOR (collector.payload_readers) and without them,
    as where they could not be built."""
    readers = payload_readers.readers(schema) if request.param == "fast readers" else None
    if request.param == "fast readers" and readers is None:
        pytest.fail("collector._payloads is not built")
    return EnvelopeCodec(schema), YangJson(schema), Merger(list_keys(schema)), readers


class ListOutput:
    name = "list"
    takes_state = False

    def __init__(self) -> None:
        self.records: list[Record] = []

    def offer(self, record: Record) -> bool:
        self.records.append(record)
        return True

    async def close(self) -> None:
        pass


class FullOutput(ListOutput):
    name = "full"

    def offer(self, record: Record) -> bool:
        return False


def make_pipeline(parts: tuple[EnvelopeCodec, YangJson, Merger, dict | None], *outputs: ListOutput) -> Pipeline:
    codec, yang, merger, readers = parts
    knowledge, stats = Knowledge(), Stats()
    return Pipeline(EventDecoder(codec, yang, readers), knowledge, Reassembly(knowledge, merger),
                    Outputs(list(outputs), stats.output_drops), stats)


def interface_data(names: list[str]) -> etree._Element:
    entries = "".join(f"<interface><name>{n}</name><description>{'x' * 150}</description></interface>"
                      for n in names)
    return etree.fromstring(f'<data xmlns="{NETCONF_BASE}"><interfaces xmlns="{INTERFACES}">{entries}'
                            "</interfaces></data>")


class Sender:
    """One synthetic publisher: contiguous message ids and sequence numbers, like the real one."""

    def __init__(self, schema: Schema, publisher_id: int, encoding: Encoding = Encoding.JSON) -> None:
        self.codec = EnvelopeCodec(schema)
        self.publisher_id = publisher_id
        self.encoding = encoding
        self.message_id = random.getrandbits(32)
        self.sequence = 0

    def datagrams(self, event: etree._Element, event_time: float, segment: int | None = None) -> list[bytes]:
        payload = self.codec.encode(event, event_time=format_epoch(event_time),
                                    sequence_number=self.sequence, encoding=self.encoding)
        datagrams = encode_message(payload, publisher_id=self.publisher_id, message_id=self.message_id,
                                   media_type=MEDIA[self.encoding], max_segment_size=segment)
        self.message_id = (self.message_id + 1) % 2**32
        self.sequence += 1
        return datagrams


def started(subscription_id: int, generators: list[str], period_cs: int = 100) -> etree._Element:
    spec = SubscriptionSpec(id=subscription_id, datastore="ds:operational", trigger=Periodic(period_cs))
    return state_notification("subscription-started", subscription_id, spec=spec, generators=generators)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_three_generators_in_each_encoding_make_one_merged_record(schema, parts, encoding):
    output = ListOutput()
    pipeline = make_pipeline(parts, output)
    master = Sender(schema, 1, encoding)
    for datagram in master.datagrams(started(5, ["1", "2", "3"]), T0 - 1):
        pipeline.datagram(datagram, ("127.0.0.1", 1))
    datagrams = []
    for generator in (1, 2, 3):
        sender = master if generator == 1 else Sender(schema, generator, encoding)
        names = [f"{generator}/0/{port}" for port in range(40)]  # ~8 KB: segmented
        datagrams += sender.datagrams(push_update(5, interface_data(names), generator), T0, segment=1400)
    random.Random(1).shuffle(datagrams)
    for datagram in datagrams + datagrams[:5]:  # duplicated segments too
        pipeline.datagram(datagram, ("127.0.0.1", 1))
    (record,) = output.records
    assert record.complete and record.present == ("1", "2", "3")
    entries = record.data["ietf-interfaces:interfaces"]["interface"]
    assert len(entries) == 120 and entries[0] == {"name": "1/0/0", "description": "x" * 150}
    assert pipeline.refusals() == Counter({"duplicate-segment": 5})


def test_duplicate_message_is_dropped_before_decoding_and_gaps_are_lost(schema, parts):
    output = ListOutput()
    pipeline = make_pipeline(parts, output)
    sender = Sender(schema, 2)
    pipeline.knowledge.start(5, Policy(
        period=1.0, generators=frozenset({"2"})))
    messages = [sender.datagrams(push_update(5, interface_data(["2/0/1"]), 2), T0 + k)[0] for k in range(5)]
    for datagram in (messages[0], messages[0], messages[1], messages[4]):
        pipeline.datagram(datagram, None)
    counters = pipeline.stats.generators["2"]
    assert counters.messages == 3 and counters.message_ids.duplicates == 1
    assert [r.time for r in output.records] == [T0, T0 + 1, T0 + 4]
    assert counters.message_ids.expire(float("inf")) == 2 and counters.message_ids.lost == 2


def test_unknown_media_type_and_private_encoding_are_counted_and_skipped(parts):
    pipeline = make_pipeline(parts, ListOutput())
    payload = b'{"x": 1}'
    unknown = bytearray(encode_message(payload, publisher_id=3, message_id=1, media_type=MediaType.JSON)[0])
    unknown[0] = 0x20 | 7  # version 1, media type 7 (unassigned)
    private = bytearray(unknown)
    private[0] = 0x20 | 0x10 | 1  # S flag: a private encoding
    private[11] = 2  # the next message id
    for datagram in (unknown, private):
        pipeline.datagram(bytes(datagram), None)
    assert pipeline.refusals() == Counter({"unknown-media-type": 1, "private-encoding": 1})


def test_a_full_output_counts_drops_and_does_not_block(schema, parts):
    pipeline = make_pipeline(parts, FullOutput())
    pipeline.knowledge.start(5, Policy(
        period=1.0, generators=frozenset({"2"})))
    sender = Sender(schema, 2)
    for k in range(3):
        for datagram in sender.datagrams(push_update(5, interface_data(["2/0/1"]), 2), T0 + k):
            pipeline.datagram(datagram, None)
    assert pipeline.stats.output_drops == Counter({"full": 3}) and pipeline.stats.records["complete"] == 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries({"ietf-yp-notification:envelope": st.fixed_dictionaries(
    {"event-time": st.sampled_from(["2026-01-01T00:00:00Z", "yesterday", ""]),
     "contents": st.dictionaries(st.sampled_from(["ietf-yang-push:push-update",
                                                  "ietf-subscribed-notifications:subscription-started",
                                                  "ietf-subscribed-notifications:subscription-modified",
                                                  "ietf-yang-push:push-change-update", "x:y"]),
                                 json_values, min_size=1, max_size=1)},
    optional={"sequence-number": json_values})})


@st.composite
def datagram_streams(draw) -> list[bytes]:
    """Arbitrary bytes, and well-formed headers around arbitrary or envelope-shaped payloads."""
    datagrams = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["bytes", "payload", "envelope"]))
        if kind == "bytes":
            datagrams.append(draw(st.binary(max_size=64)))
            continue
        if kind == "payload":
            payload = draw(st.binary(max_size=200))
        else:
            payload = orjson.dumps(draw(envelopes), option=orjson.OPT_NON_STR_KEYS)
        media = draw(st.sampled_from(list(MediaType)))
        datagrams += encode_message(payload, publisher_id=draw(st.integers(1, 3)),
                                    message_id=draw(st.integers(0, 4)), media_type=media,
                                    max_segment_size=draw(st.sampled_from([None, 40])))
    return datagrams


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(datagram_streams())
def test_any_datagrams_never_raise_and_every_message_is_accounted_for(parts, stream):
    pipeline = make_pipeline(parts, ListOutput())
    delivered = Counter()
    events = []
    message, event = pipeline.intake._message, pipeline.intake.deliver

    def counting_message(*fields):
        delivered["messages"] += 1
        return message(*fields)

    def counting_event(decoded, generator, arrived):
        events.append(decoded)
        return event(decoded, generator, arrived)

    pipeline.intake._message = counting_message
    pipeline.intake.deliver = counting_event
    for datagram in stream:
        pipeline.datagram(datagram, None)
    pipeline.tick()
    duplicates = sum(g.message_ids.duplicates for g in pipeline.stats.generators.values())
    assert delivered["messages"] == duplicates + sum(pipeline.decoder.errors.values()) + len(events)


def test_state_notifications_reach_only_the_outputs_that_carry_them(schema, parts) -> None:
    class StateOutput(ListOutput):
        takes_state = True

    plain, carrier = ListOutput(), StateOutput()
    pipeline = make_pipeline(parts, plain, carrier)
    master = Sender(schema, 1)
    for datagram in master.datagrams(started(7, ["1", "2"]), T0 - 1):
        pipeline.datagram(datagram, ("127.0.0.1", 1))
    assert plain.records == []
    (state,) = carrier.records
    assert (state.subscription_id, state.kind, state.event) == (7, "state", "ietf-subscribed-notifications:subscription-started")
    assert state.to_json()["data"]["id"] == 7
