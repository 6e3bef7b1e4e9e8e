"""The Master–agent control channel codec: every message round-trips; garbage never raises
anything but ControlChannelError."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mso import control_channel as cc
from mso.subscription_model import Encoding, FilterSpec, OnChange, Periodic, Receiver, SubscriptionSpec

IF_LIST = ("{urn:ietf:params:xml:ns:yang:ietf-interfaces}interfaces", "{urn:ietf:params:xml:ns:yang:ietf-interfaces}interface")
PERIODIC = SubscriptionSpec(
    id=7, datastore="ds:operational",
    filter=FilterSpec("xpath", xpath="/if:interfaces/if:interface[if:name='2/0/1']",
                      namespaces=(("if", "urn:ietf:params:xml:ns:yang:ietf-interfaces"),)),
    trigger=Periodic(100, datetime(2026, 1, 1, tzinfo=timezone.utc)), encoding=Encoding.CBOR,
    receivers=(Receiver("c1", "127.0.0.1", 10001, True, 1200),), configured=True,
)
ON_CHANGE = SubscriptionSpec(
    id=8, datastore="ds:operational",
    filter=FilterSpec("subtree", subtree_xml=b'<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>'),
    trigger=OnChange(50, False, ("delete",)), stop_time=datetime(2030, 5, 1, 12, tzinfo=timezone.utc),
)

MESSAGES = [
    cc.Challenge("00ff" * 8),
    cc.Register(2, 2, ((IF_LIST, ("2/0/1",)), (IF_LIST, ("2/0/2",))), cc.Capability((Encoding.JSON,), 10, False),
                nonce="ab" * 16, proof="cd" * 32),
    cc.RegisterReply(True, boot_time=1700000000.5, seed=3, heartbeat_interval=0.5),
    cc.RegisterReply(False, reason="generator id 2 is already registered"),
    cc.Heartbeat(),
    cc.ResourcesAssigned(removed=((IF_LIST, ("2/0/1",)),)),
    cc.ComponentCreate(PERIODIC),
    cc.ComponentModify(ON_CHANGE, report_to_master=True),
    cc.ComponentDelete(7),
    cc.ComponentStatus(7, "error", "filter failed"),
    cc.GetRequest(1, PERIODIC.filter),
    cc.GetRequest(2, None),
    cc.GetReply(1, "<data/>"),
    cc.DataReport(7, 1700000000.25, "<push-update/>"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.TYPE)
def test_every_message_round_trips(message: cc.Message) -> None:
    encoded = cc.encode(message)

    assert int.from_bytes(encoded[:4], "big") == len(encoded) - 4
    assert cc.decode(encoded[4:]) == message


@pytest.mark.parametrize("payload", [
    b"", b"[]", b"{}", b'{"type": "no-such"}', b'{"type": "register"}', b'{"type": "component-delete", "x": 1}',
    b'{"type": "register", "generator_id": 2, "slot": 2, "resources": [[[1], []]]}', b"\xff\xfe",
    b'{"type": "component-delete", "subscription_id": "7"}', b'{"type": "heartbeat", "extra": 1}',
    b'{"type": "register-reply", "accepted": 1}',
])
def test_malformed_messages_are_refused_with_a_reason(payload: bytes) -> None:
    with pytest.raises(cc.ControlChannelError):
        cc.decode(payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_else(payload: bytes) -> None:
    try:
        cc.decode(payload)
    except cc.ControlChannelError:
        pass


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MESSAGES), st.data(), JSON_VALUES)
def test_a_valid_message_with_one_field_replaced_never_raises_anything_else(
    message: cc.Message, data: st.DataObject, value: object
) -> None:
    body = orjson.loads(cc.encode(message)[4:])
    field = data.draw(st.sampled_from(sorted(body)))
    body[field] = value
    try:
        cc.decode(orjson.dumps(body))
    except cc.ControlChannelError:
        pass


def test_reader_refuses_an_oversized_length_before_reading_it() -> None:
    async def body() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data((cc.MAX_MESSAGE_BYTES + 1).to_bytes(4, "big"))
        with pytest.raises(cc.ControlChannelError):
            await cc.read_message(reader)

    asyncio.run(body())


def test_reader_reads_back_to_back_messages() -> None:
    async def body() -> list[cc.Message]:
        reader = asyncio.StreamReader()
        reader.feed_data(b"".join(cc.encode(m) for m in MESSAGES))
        reader.feed_eof()
        return [await cc.read_message(reader) for _ in MESSAGES]

    assert asyncio.run(body()) == MESSAGES


def test_proofs_bind_the_secret_to_both_nonces_and_the_identity() -> None:
    secret = bytes(range(32))
    proof = cc.agent_proof(secret, "challenge", "nonce", 2)
    assert cc.proof_matches(proof, cc.agent_proof(secret, "challenge", "nonce", 2))
    for other in (cc.agent_proof(b"other", "challenge", "nonce", 2), cc.agent_proof(secret, "again", "nonce", 2),
                  cc.agent_proof(secret, "challenge", "nonce", 3), cc.master_proof(secret, "nonce", "challenge")):
        assert not cc.proof_matches(proof, other)
    assert "secret" not in proof and secret.hex() not in proof


def test_a_secret_file_that_is_missing_or_not_hex_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(cc.ControlChannelError, match="cannot read the agent secret"):
        cc.read_secret(tmp_path / "missing")
    (tmp_path / "garbled").write_text("not hex")
    with pytest.raises(cc.ControlChannelError, match="does not hold an agent secret"):
        cc.read_secret(tmp_path / "garbled")
