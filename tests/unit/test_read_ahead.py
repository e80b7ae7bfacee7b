"""A headless playback's reader thread (server/driver.read_ahead): the source's batches in
order, its error in its place after what came before it, and an early stop that stops
the thread and closes the source's batches."""

from __future__ import annotations

import threading

import pytest

from tuimon.errors import BadCaptureFile, CaptureFailed
from tuimon.server import driver


class Source:
    def __init__(self, n: int, error: BaseException | None = None) -> None:
        self.n, self.error, self.given, self.closed = n, error, 0, False
        self.thread: threading.Thread | None = None

    def batches(self):
        self.thread = threading.current_thread()
        try:
            for i in range(self.n):
                self.given += 1
                yield [i] * 3
            if self.error is not None:
                raise self.error
        finally:
            self.closed = True


def test_batches_in_order_from_another_thread():
    src = Source(50)
    assert list(driver.read_ahead(src)) == [[i] * 3 for i in range(50)]
    assert src.closed and src.thread is not threading.current_thread()


@pytest.mark.parametrize("error, expected", [
    (BadCaptureFile("x.pcap: cut short"), BadCaptureFile("x.pcap: cut short")),
    (ValueError("odd"), CaptureFailed("capture failed: ValueError: odd"))])
def test_the_error_comes_after_the_batches_before_it(error, expected):
    got = []
    with pytest.raises(type(expected)) as err:
        for batch in driver.read_ahead(Source(7, error)):
            got.append(batch)
    assert str(err.value) == str(expected)
    assert got == [[i] * 3 for i in range(7)]


def test_stopping_early_stops_the_reader(monkeypatch):
    monkeypatch.setattr(driver, "READ_AHEAD", 2)
    src = Source(10_000)
    it = driver.read_ahead(src)
    assert next(it) == [0] * 3
    it.close()  # what a stop does: the loop ends, the generator is closed
    assert src.closed and not src.thread.is_alive()
    assert src.given <= 2 + 3  # at most the queue's worth ahead (and one in hand)
