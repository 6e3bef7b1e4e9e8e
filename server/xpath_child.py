"""The child process that runs costly XPath filters for the Master (see ``server.xpath_isolation``).

It reads requests on stdin and answers on stdout, one at a time, until stdin closes (which is
also how it ends when the Master dies). Each request is a header (expression and prefixes, as
JSON) and the data as XML; each answer names the selected elements by their position in
document order, so the Master picks them out of its own copy of the data. Its address space is
capped, so an expression that builds huge node-sets fails here rather than swapping the host.
"""

from __future__ import annotations

import json
import resource
import struct
import sys
from typing import BinaryIO

from lxml import etree

from mso.filters import FilterError, compile_xpath
from mso.xml_parsing import parse_xml

REQUEST_HEAD = struct.Struct(">II")  # header length, data length
ANSWER_HEAD = struct.Struct(">I")
ADDRESS_SPACE = 2 * 1024**3


def answer(header: dict, data: etree._Element) -> dict:
    try:
        selected = compile_xpath(header["expression"], dict(header["namespaces"])).selected(data)
    except FilterError as error:
        return {"error": error.error_message, "tag": error.error_tag}
    except MemoryError:
        return {"error": "the XPath filter needs more memory than a filter may use", "tag": "too-big"}
    position = {element: index for index, element in enumerate(data.iter(etree.Element))}
    return {"selected": [position[element] for element in selected]}


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    while head := requests.read(REQUEST_HEAD.size):
        header_length, data_length = REQUEST_HEAD.unpack(head)
        header = json.loads(requests.read(header_length))
        reply = json.dumps(answer(header, parse_xml(requests.read(data_length)))).encode()
        answers.write(ANSWER_HEAD.pack(len(reply)) + reply)
        answers.flush()


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    serve(sys.stdin.buffer, sys.stdout.buffer)
