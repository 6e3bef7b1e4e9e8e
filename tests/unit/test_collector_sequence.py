"""Per-generator loss and duplicate accounting on message ids / sequence numbers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collector.sequence import MODULUS, SequenceTracker


def feed(tracker: SequenceTracker, numbers: list[int], now: float = 0.0) -> list[bool]:
    return [tracker.observe(n, now) for n in numbers]


def test_contiguous_series_has_no_loss():
    tracker = SequenceTracker()
    assert all(feed(tracker, list(range(100, 200))))
    tracker.expire(100.0)
    assert (tracker.lost, tracker.duplicates, tracker.reordered) == (0, 0, 0)


def test_gap_is_lost_only_after_the_horizon():
    tracker = SequenceTracker(horizon=2.0)
    feed(tracker, [1, 2, 5], now=10.0)
    assert tracker.lost == 0 and sorted(tracker.missing) == [3, 4]
    assert tracker.expire(11.0) == 0
    assert tracker.expire(12.0) == 2
    assert tracker.lost == 2 and not tracker.missing


def test_late_arrival_fills_the_gap_and_is_not_lost():
    tracker = SequenceTracker()
    assert feed(tracker, [1, 3, 2]) == [True, True, True]
    tracker.expire(100.0)
    assert (tracker.lost, tracker.reordered, tracker.duplicates) == (0, 1, 0)


def test_duplicates_are_refused_and_counted():
    tracker = SequenceTracker()
    assert feed(tracker, [7, 8, 8, 7, 9]) == [True, True, False, False, True]
    assert tracker.duplicates == 2


def test_wraps_at_two_to_the_32():
    tracker = SequenceTracker()
    assert all(feed(tracker, [MODULUS - 2, MODULUS - 1, 0, 1]))
    feed(tracker, [3])
    assert sorted(tracker.missing) == [2]


def test_a_far_jump_is_a_restart_not_a_loss():
    tracker = SequenceTracker()
    feed(tracker, [10, 11, 12])
    assert tracker.observe(3_000_000_000, 0.0)
    assert (tracker.resets, tracker.lost) == (1, 0)
    assert tracker.observe(3_000_000_001, 0.0)


def test_a_gap_wider_than_the_window_counts_the_oldest_lost_at_once():
    tracker = SequenceTracker(window=10)
    feed(tracker, [0, 101])
    assert tracker.lost == 90 and len(tracker.missing) == 10


@given(st.lists(st.integers(0, 300), max_size=400))
def test_every_number_is_accounted_for(numbers: list[int]):
    """Without restarts: distinct numbers seen + lost + still missing covers first..highest."""
    tracker = SequenceTracker(window=1000, reset_distance=1000)
    accepted = [n for n in numbers if tracker.observe(n, 0.0)]
    assert len(accepted) == len(set(accepted))
    assert tracker.duplicates == len(numbers) - len(accepted)
    if numbers:
        lowest_kept = numbers[0]
        span = {n for n in range(lowest_kept, tracker.highest + 1)}
        seen = {n for n in accepted if n >= lowest_kept}
        assert span - seen == set(tracker.missing)
        tracker.expire(10.0)
        assert tracker.lost == len(span - seen)
