"""Hostile NETCONF input, as the bytes a client writes on the netconf subsystem from its first
byte (its hello included): a fixed list of the abuses a server must survive, and random
mutations of valid requests. Pure: ``bench.fuzz`` sends them over SSH, ``bench.fuzz_targets``
feeds them to a Master core in-process, the tests do both.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from mso.framing import EOM, frame_chunked, frame_eom
from mso.namespaces import BASE_1_0, BASE_1_1, DATASTORES, INTERFACES, NETCONF_BASE, SUBSCRIBED_NOTIFICATIONS, YANG_PUSH

ANSWER = "answer"  # each complete request gets an rpc-reply, or the session is closed
CLOSE = "close"  # the session is closed (framing or hello broken)
ANY = "any"  # an incomplete message: waiting for more is as right as closing


@dataclass(frozen=True)
class Case:
    name: str
    payload: bytes
    expect: str


def hello(chunked: bool = True, extra: str = "") -> bytes:
    capabilities = f"<capability>{BASE_1_0}</capability>" + (f"<capability>{BASE_1_1}</capability>" if chunked else "")
    return frame_eom(f'<hello xmlns="{NETCONF_BASE}"><capabilities>{capabilities}</capabilities>{extra}</hello>'.encode())


def rpc(body: str, message_id: str = "1", attributes: str = "") -> bytes:
    return f'<rpc xmlns="{NETCONF_BASE}" message-id="{message_id}"{attributes}>{body}</rpc>'.encode()


def session(*messages: bytes, chunked: bool = True) -> bytes:
    """A hello and well-framed messages."""
    frame = frame_chunked if chunked else frame_eom
    return hello(chunked) + b"".join(frame(message) for message in messages)


VALID_REQUESTS = (
    rpc("<get/>"),
    rpc(f'<get><filter type="subtree"><interfaces xmlns="{INTERFACES}"><interface><name>1/0/1</name></interface>'
        "</interfaces></filter></get>"),
    rpc(f'<get><filter type="xpath" xmlns:if="{INTERFACES}" select="/if:interfaces/if:interface/if:name"/></get>'),
    rpc("<get-config><source><running/></source></get-config>"),
    rpc(f'<edit-config><target><running/></target><config><interfaces xmlns="{INTERFACES}"><interface>'
        "<name>fuzz0</name><type xmlns:ianaift=\"urn:ietf:params:xml:ns:yang:iana-if-type\">ianaift:ethernetCsmacd"
        "</type></interface></interfaces></config></edit-config>"),
    rpc(f'<establish-subscription xmlns="{SUBSCRIBED_NOTIFICATIONS}"><datastore xmlns="{YANG_PUSH}" '
        f'xmlns:ds="{DATASTORES}">ds:operational</datastore><datastore-xpath-filter xmlns="{YANG_PUSH}" '
        f'xmlns:if="{INTERFACES}">/if:interfaces</datastore-xpath-filter><periodic xmlns="{YANG_PUSH}">'
        "<period>100</period></periodic></establish-subscription>"),
    rpc("<lock><target><running/></target></lock>"),
    rpc('<get-schema xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"><identifier>ietf-interfaces'
        "</identifier></get-schema>"),
    rpc(f'<kill-subscription xmlns="{SUBSCRIBED_NOTIFICATIONS}"><id>99</id></kill-subscription>'),
)


def hostile_cases() -> list[Case]:
    """The abuses the issue names, each once."""
    deep = b"<a>" * 300 + b"</a>" * 300
    many_attributes = " " + " ".join(f'a{i}="x"' for i in range(100_000))
    many_namespaces = " " + " ".join(f'xmlns:p{i}="urn:p{i}"' for i in range(10_000))
    get = "<get/>"
    return [
        Case("valid requests", session(*VALID_REQUESTS), ANSWER),
        Case("valid requests, base:1.0", session(*VALID_REQUESTS, chunked=False), ANSWER),
        Case("deep nesting (300)", session(rpc(deep.decode())), ANSWER),
        Case("deep nesting (64+1 in an edit)", session(rpc("<edit-config>" + "<x>" * 65 + "</x>" * 65 + "</edit-config>")),
             ANSWER),
        Case("100,000 attributes on rpc", session(rpc(get, attributes=many_attributes)), ANSWER),
        Case("10,000 namespace declarations", session(rpc(get, attributes=many_namespaces)), ANSWER),
        Case("invalid UTF-8 in text", session(rpc("<get-config><source><running/></source></get-config>").replace(
            b"running", b"runn\xff\xfeing")), ANSWER),
        Case("invalid UTF-8 in a name", session(b"<rpc\xc3\x28 message-id='1'/>"), ANSWER),
        Case("UTF-16 declared, UTF-8 sent", session(b'<?xml version="1.0" encoding="UTF-16"?>' + rpc(get)), ANSWER),
        Case("entity declaration", session(b'<!DOCTYPE r [<!ENTITY e "x">]>' + rpc("<get>&e;</get>")), ANSWER),
        Case("billion laughs", session(b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                                       b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>' + rpc("<get>&c;</get>")), ANSWER),
        Case("external entity", session(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + rpc("<get>&x;</get>")),
             ANSWER),
        Case("undefined entity", session(rpc("<get>&nope;</get>")), ANSWER),
        Case("no message-id", session(b'<rpc xmlns="' + NETCONF_BASE.encode() + b'"><get/></rpc>'), ANSWER),
        Case("two operations", session(rpc("<get/><get-config><source><running/></source></get-config>")), ANSWER),
        Case("not an rpc", session(b'<notification xmlns="urn:x"/>'), ANSWER),
        Case("empty message", hello() + frame_chunked(b""), CLOSE),
        Case("chunk size 4294967295", hello() + b"\n#4294967295\n" + rpc(get), CLOSE),
        Case("chunk size 4294967296", hello() + b"\n#4294967296\n" + rpc(get), CLOSE),
        Case("chunk size zero", hello() + b"\n#0\n" + rpc(get) + b"\n##\n", CLOSE),
        Case("chunk size with a leading zero", hello() + b"\n#012\n" + rpc(get)[:12] + b"\n##\n", CLOSE),
        Case("chunk header not digits", hello() + b"\n#abc\n" + rpc(get), CLOSE),
        Case("missing end marker", hello() + b"\n#%d\n%s" % (len(rpc(get)), rpc(get)), ANY),
        Case("chunks of two messages interleaved", hello() + b"\n#5\n<rpc \n#5\n<rpc " + b"\n##\n" * 2, ANSWER),
        Case("end marker without chunks", hello() + b"\n##\n" * 50, CLOSE),
        Case("end-of-message framing after base:1.1", hello() + frame_eom(rpc(get)), CLOSE),
        Case("message over the size limit", hello() + b"\n#%d\n" % (64 * 1024 * 1024) + b"x" * (17 * 1024 * 1024), CLOSE),
        Case("hello flood", hello() + frame_chunked(hello()[:-len(EOM)]) * 200 + frame_chunked(rpc(get)), ANSWER),
        Case("a second hello in base:1.0 framing", hello() + hello() * 200 + frame_chunked(rpc(get)), CLOSE),
        Case("hello with a session-id", hello(extra="<session-id>4</session-id>"), CLOSE),
        Case("hello without a base capability", frame_eom(f'<hello xmlns="{NETCONF_BASE}"><capabilities>'
                                                          "<capability>urn:x</capability></capabilities></hello>".encode()),
             CLOSE),
        Case("rpc instead of hello", frame_eom(rpc(get)), CLOSE),
        Case("garbage instead of hello", bytes(range(256)) * 4 + EOM, CLOSE),
        Case("unterminated hello", b"<hello" * 1000, ANY),
    ]


_TOKENS = (b"<", b">", b"/>", b"</", b"&", b"&amp;", b"&#0;", b"&#xFFFF;", b"]]>]]>", b"\n#", b"\n##\n", b"\n#9\n",
           b"<!DOCTYPE x>", b"<!ENTITY e 'x'>", b'xmlns:x="urn:x"', b'message-id="', b"\xff\xfe", b"\x00", b"\xc0\x80",
           b"<![CDATA[", b"]]>", b"<?xml version='1.0'?>", b"'", b'"', b"=", b" ", b"\n")


def mutate(data: bytes, rng: random.Random, rounds: int) -> bytes:
    """``rounds`` random edits: flip, delete, duplicate, insert a token, truncate."""
    buffer = bytearray(data)
    for _ in range(rounds):
        if not buffer:
            buffer += rng.choice(_TOKENS)
            continue
        at = rng.randrange(len(buffer))
        kind = rng.randrange(5)
        if kind == 0:
            buffer[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del buffer[at:at + rng.randint(1, 16)]
        elif kind == 2:
            piece = buffer[at:at + rng.randint(1, 64)]
            buffer[at:at] = piece * rng.randint(1, 8)
        elif kind == 3:
            buffer[at:at] = rng.choice(_TOKENS)
        else:
            del buffer[at:]
    return bytes(buffer)


def mutated_cases(rng: random.Random, count: int) -> Iterator[Case]:
    """Valid requests mutated, then framed well (the parser's cases) or mutated after framing
    (the framing's cases); a third of them with random bytes in place of the hello."""
    for index in range(count):
        request = mutate(rng.choice(VALID_REQUESTS), rng, rng.randint(1, 8))
        chunked = rng.random() < 0.7
        frame = frame_chunked if chunked else frame_eom
        if index % 3 == 0:
            payload = hello(chunked) + mutate(frame(request), rng, rng.randint(1, 4))
        elif index % 3 == 1:
            payload = hello(chunked) + frame(request)
        else:
            payload = mutate(hello(chunked), rng, rng.randint(1, 3)) + frame(request)
        yield Case(f"mutation {index}", payload, ANY)
