"""``--ui``: a live terminal view of what the collector receives, with rich.

One row per subscription (trigger, expected generators, records complete / incomplete,
completeness %) and one per generator (messages, rate, last seen, lost, duplicates, late pieces,
sequence gaps). ``snapshot`` reads the pipeline into a plain model and ``render`` turns a model
into rich renderables, so both are tested without a terminal; ``Dashboard`` refreshes a
``rich.live.Live`` once a second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from collector.knowledge import generator_list
from collector.pipeline import Pipeline

REFRESH = 1.0


@dataclass(frozen=True)
class SubscriptionRow:
    id: int
    trigger: str  # "periodic 0.2 s", "on-change", "unknown"
    generators: tuple[str, ...]
    complete: int
    incomplete: int
    passed: int  # on-change and unknown-subscription records

    @property
    def completeness(self) -> float | None:
        slots = self.complete + self.incomplete
        return None if slots == 0 else 100.0 * self.complete / slots


@dataclass(frozen=True)
class GeneratorRow:
    id: str
    messages: int
    rate: float  # messages/s since the previous snapshot
    last_seen: float | None  # seconds ago
    lost: int
    duplicates: int
    late: int
    sequence_gaps: int


@dataclass(frozen=True)
class Model:
    subscriptions: tuple[SubscriptionRow, ...]
    generators: tuple[GeneratorRow, ...]
    datagrams: int
    refused: int
    open_slots: int
    pending_segments: int
    output_drops: int


def snapshot(pipeline: Pipeline, previous: dict[str, int], elapsed: float, now: float) -> Model:
    """The pipeline now; ``previous`` holds each generator's message count ``elapsed`` seconds
    ago (for the rates) and is updated in place."""
    stats, knowledge = pipeline.stats, pipeline.knowledge
    by_subscription: dict[int, dict[str, int]] = {}
    for (subscription_id, status), count in list(stats.records_by_subscription.items()):
        by_subscription.setdefault(subscription_id, {})[status] = count
    subscriptions = []
    for subscription_id in sorted(set(knowledge.subscriptions) | set(by_subscription)):
        counts = by_subscription.get(subscription_id, {})
        known = knowledge.get(subscription_id)
        policy = known.current if known is not None else None
        if policy is None:
            trigger, generators = "unknown", ()
        else:
            trigger = f"periodic {policy.period:g} s" if policy.period is not None else "on-change"
            generators = tuple(generator_list(policy.generators))
        subscriptions.append(SubscriptionRow(
            subscription_id, trigger, generators, counts.get("complete", 0), counts.get("incomplete", 0),
            sum(v for k, v in counts.items() if k not in ("complete", "incomplete"))))
    generators = []
    for row in list(stats.generators.values()):
        before = previous.get(row.generator, 0)
        previous[row.generator] = row.messages
        generators.append(GeneratorRow(
            row.generator, row.messages, (row.messages - before) / elapsed if elapsed > 0 else 0.0,
            None if row.last_seen is None else max(0.0, now - row.last_seen),
            row.message_ids.lost, row.message_ids.duplicates, pipeline.reassembly.late[row.generator],
            row.sequence_numbers.lost))
    return Model(tuple(subscriptions), tuple(sorted(generators, key=lambda g: _numeric(g.id))), stats.datagrams,
                 sum(pipeline.refusals().values()), pipeline.reassembly.open_slots, pipeline.segments_pending,
                 sum(stats.output_drops.values()))


def _numeric(generator: str) -> tuple[int, str]:
    return (int(generator), "") if generator.isdigit() else (1 << 32, generator)


def render(model: Model) -> Group:
    """The view of one model: two tables and a summary line."""
    subscriptions = Table(title="subscriptions", title_justify="left", expand=True)
    for column in ("id", "trigger", "generators", "complete", "incomplete", "completeness", "passed through"):
        subscriptions.add_column(column, justify="left" if column in ("trigger", "generators") else "right")
    for row in model.subscriptions:
        subscriptions.add_row(str(row.id), row.trigger, ",".join(row.generators) or "-", str(row.complete),
                              _warn(row.incomplete), _percent(row.completeness), str(row.passed))
    generators = Table(title="generators", title_justify="left", expand=True)
    for column in ("generator", "messages", "rate /s", "last seen", "lost", "duplicates", "late", "seq gaps"):
        generators.add_column(column, justify="right")
    for row in model.generators:
        generators.add_row(row.id, str(row.messages), f"{row.rate:,.1f}", _ago(row.last_seen), _warn(row.lost),
                           str(row.duplicates), _warn(row.late), _warn(row.sequence_gaps))
    summary = Text(f"datagrams {model.datagrams}  refused {model.refused}  open slots {model.open_slots}  "
                   f"partial messages {model.pending_segments}  output drops {model.output_drops}")
    return Group(subscriptions, generators, summary)


def _percent(value: float | None) -> Text:
    if value is None:
        return Text("-")
    return Text(f"{value:.1f}%", style="green" if value == 100.0 else "yellow")


def _warn(count: int) -> Text:
    return Text(str(count), style="red" if count else "")


def _ago(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s ago"


class Dashboard:
    """Refreshes the view once a second on the terminal until cancelled."""

    def __init__(self, pipeline: Pipeline, console: Console | None = None) -> None:
        self._pipeline = pipeline
        self._console = console or Console()
        self._previous: dict[str, int] = {}

    async def run(self) -> None:
        last = time.monotonic()
        model = snapshot(self._pipeline, self._previous, 0.0, time.time())
        with Live(render(model), console=self._console, auto_refresh=False) as live:
            while True:
                await asyncio.sleep(REFRESH)
                now = time.monotonic()
                model = snapshot(self._pipeline, self._previous, now - last, time.time())
                last = now
                live.update(render(model), refresh=True)
