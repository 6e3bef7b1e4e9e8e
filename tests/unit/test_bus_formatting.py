"""Each formatting option (TS 29.574 FormattingInstruction / ReportingOptions) on hand-made
notifications and a clock given by hand: what is delivered, when, and together with what."""

from __future__ import annotations

from collector.bus_formatting import MAX_WAITING, Delivery, Formatter
from mso.bus_instructions import FormatInstruction, ReportingOptions


def formatter(fetch: bool = False, expiry: int = 300, **options) -> Formatter:
    return Formatter(FormatInstruction(cons_trig_notif=fetch, expiry=expiry, reporting=ReportingOptions(**options)))


def n(i: int) -> dict:
    return {"n": i}


def shape(deliveries: list[Delivery]) -> list[tuple[float, list[int]]]:
    return [(d.time, [x["n"] for x in d.notifications]) for d in deliveries]


def test_without_options_each_notification_is_delivered_alone_as_it_comes() -> None:
    f = formatter()
    assert shape(f.offer(n(1), 10.0)) == [(10.0, [1])]
    assert shape(f.offer(n(2), 11.5)) == [(11.5, [2])]
    assert f.tick(12.0) == []


def test_min_clubbed_holds_until_that_many_wait() -> None:
    f = formatter(min_clubbed=3)
    assert f.offer(n(1), 1.0) == [] and f.offer(n(2), 2.0) == [] and f.tick(2.5) == []
    assert shape(f.offer(n(3), 3.0)) == [(3.0, [1, 2, 3])]
    assert f.offer(n(4), 4.0) == []


def test_max_clubbed_splits_what_a_timed_delivery_takes() -> None:
    f = formatter(max_clubbed=2, notify_period=10)
    assert f.tick(95.0) == []
    for i in range(5):
        assert f.offer(n(i), 96.0 + i / 10) == []
    assert shape(f.tick(100.0)) == [(100.0, [0, 1]), (100.0, [2, 3]), (100.0, [4])]


def test_notify_window_buffers_before_delivers_inside_and_drops_after() -> None:
    f = formatter(min_clubbed=2, window=(100.0, 200.0))
    assert f.offer(n(1), 50.0) == [] and f.offer(n(2), 60.0) == [] and f.tick(99.9) == []
    assert shape(f.tick(100.0)) == [(100.0, [1, 2])]  # the window opens: what waited goes
    assert f.offer(n(3), 150.0) == []
    assert shape(f.offer(n(4), 160.0)) == [(160.0, [3, 4])]
    assert f.offer(n(5), 170.0) == []
    assert f.tick(200.0) == [] and f.dropped == 1  # still waiting when it closed
    assert f.offer(n(6), 210.0) == [] and f.dropped == 2  # came after


def test_notify_period_delivers_at_exact_times_also_nothing() -> None:
    f = formatter(notify_period=10)
    assert f.tick(95.0) == []
    assert f.offer(n(1), 96.0) == [] and f.offer(n(2), 97.0) == []
    assert f.tick(99.99) == []
    assert shape(f.tick(100.0)) == [(100.0, [1, 2])]
    assert f.tick(105.0) == []
    assert shape(f.tick(110.2)) == [(110.0, [])]  # nothing came: an empty message at the time
    assert shape(f.tick(135.0)) == [(130.0, [])]  # 120 and 130 missed: one message, the latest
    assert f.tick(139.0) == [] and shape(f.tick(140.0)) == [(140.0, [])]


def test_notify_period_inc_sends_the_first_at_once_then_after_n_2n_3n() -> None:
    f = formatter(notify_period_inc=10)
    assert shape(f.offer(n(1), 0.0)) == [(0.0, [1])]
    assert f.offer(n(2), 3.0) == [] and f.offer(n(3), 5.0) == [] and f.tick(9.9) == []
    assert shape(f.tick(10.0)) == [(10.0, [2, 3])]  # after N
    assert f.tick(20.0) == []
    assert f.offer(n(4), 25.0) == [] and f.tick(29.9) == []
    assert shape(f.tick(30.0)) == [(30.0, [4])]  # after 2N
    assert f.offer(n(5), 31.0) == [] and f.tick(59.9) == []
    assert shape(f.tick(60.0)) == [(60.0, [5])]  # after 3N
    assert f.tick(99.9) == [] and f.offer(n(6), 99.95) == []
    assert shape(f.tick(100.0)) == [(100.0, [6])]  # after 4N


def test_increasing_waits_for_the_window_before_its_first() -> None:
    f = formatter(notify_period_inc=10, window=(50.0, 500.0))
    assert f.offer(n(1), 0.0) == [] and f.tick(49.0) == []
    assert shape(f.tick(50.0)) == [(50.0, [1])]
    assert f.offer(n(2), 51.0) == [] and shape(f.tick(60.0)) == [(60.0, [2])]


def test_cons_trig_notif_buffers_every_delivery_with_its_expiry() -> None:
    f = formatter(fetch=True, expiry=30, min_clubbed=2)
    assert f.offer(n(1), 1.0) == []
    (delivery,) = f.offer(n(2), 2.0)
    assert delivery.fetch and delivery.expiry == 32.0 and [x["n"] for x in delivery.notifications] == [1, 2]
    (plain,) = formatter().offer(n(3), 5.0)
    assert not plain.fetch and plain.expiry is None


def test_the_oldest_waiting_notifications_are_dropped_beyond_the_bound() -> None:
    f = formatter(min_clubbed=MAX_WAITING + 10)
    for i in range(MAX_WAITING + 2):
        f.offer(n(i), 1.0)
    assert f.dropped == 2
