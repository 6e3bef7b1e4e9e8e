"""The --ui view, rendered from models into a recording console (never the terminal)."""

from __future__ import annotations

from rich.console import Console

from collector.decoding import EventDecoder
from collector.knowledge import Knowledge, Policy
from collector.outputs import Outputs
from collector.pipeline import Pipeline
from collector.reassembly import Piece, Reassembly
from collector.ui import GeneratorRow, Model, SubscriptionRow, render, snapshot
from collector.stats import Stats
from tests.unit.test_collector_pipeline import parts, schema  # noqa: F401  (fixtures)

T0 = 1_800_000_000.0


def text_of(model: Model) -> str:
    console = Console(record=True, width=140, color_system=None)
    console.print(render(model))
    return console.export_text()


def row_of(text: str, first_cell: str) -> list[str]:
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").replace("┃", "│").split("│")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in\n{text}")


def test_render_shows_one_row_per_subscription_and_generator():
    model = Model(
        subscriptions=(SubscriptionRow(7, "periodic 0.2 s", ("1", "2", "3"), 2, 1, 0),
                       SubscriptionRow(9, "unknown", (), 0, 0, 4)),
        generators=(GeneratorRow("1", 10, 5.0, 0.25, 0, 0, 0, 0), GeneratorRow("3", 4, 0.0, None, 2, 1, 1, 0)),
        datagrams=30, refused=1, open_slots=2, pending_segments=0, output_drops=0,
    )
    text = text_of(model)
    assert row_of(text, "7") == ["7", "periodic 0.2 s", "1,2,3", "2", "1", "66.7%", "0"]
    assert row_of(text, "9") == ["9", "unknown", "-", "0", "0", "-", "4"]
    assert row_of(text, "1") == ["1", "10", "5.0", "0.2 s ago", "0", "0", "0", "0"]
    assert row_of(text, "3") == ["3", "4", "0.0", "never", "2", "1", "1", "0"]
    assert "datagrams 30  refused 1  open slots 2" in text


def test_snapshot_reads_the_pipeline(parts):
    codec, yang, merger, _ = parts
    knowledge, stats = Knowledge(), Stats()
    pipeline = Pipeline(EventDecoder(codec, yang), knowledge, Reassembly(knowledge, merger, clock=lambda: 0.0),
                        Outputs([], stats.output_drops), stats, clock=lambda: 0.0, wall_clock=lambda: T0)
    knowledge.start(7, Policy(period=1.0, generators=frozenset({"1", "2"})))
    body = {"id": 7, "datastore-contents": {}}
    for k in range(3):
        pipeline.emit(pipeline.reassembly.add(Piece(7, "1", "ietf-yang-push:push-update", T0 + k, body, 0.0)))
        if k < 2:
            pipeline.emit(pipeline.reassembly.add(Piece(7, "2", "ietf-yang-push:push-update", T0 + k, body, 0.0)))
    pipeline.emit(pipeline.reassembly.end(7))
    generator = stats.generator("2")
    generator.messages, generator.last_seen = 6, T0 - 3
    for message_id in (1, 2, 5):
        generator.message_ids.observe(message_id, 0.0)
    generator.message_ids.expire(100.0)
    previous = {"2": 2}
    model = snapshot(pipeline, previous, 2.0, T0)
    (subscription,) = model.subscriptions
    assert subscription == SubscriptionRow(7, "periodic 1 s", ("1", "2"), 2, 1, 0)
    assert round(subscription.completeness, 1) == 66.7
    (row,) = model.generators
    assert (row.id, row.rate, row.last_seen, row.lost) == ("2", 2.0, 3.0, 2)
    assert previous == {"2": 6}
