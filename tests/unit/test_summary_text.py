"""The --no-ui summary's words: one unit style, no "Top 0 hosts", plurals that agree."""

from __future__ import annotations

from pathlib import Path

from tuimon.capture.file import FileSource
from tuimon.core.engine import Engine
from tuimon.server.driver import count_source
from tuimon.sinks.summary import render_summary

DATA = Path(__file__).resolve().parents[1] / "data"


def test_an_empty_capture_says_so_plainly():
    text = render_summary(Engine().snapshot())
    first = text.splitlines()[0]
    assert first.startswith("0 packets, 0 B, 0 hosts, 0 conversations, ")
    assert "bytes)" not in first and "Top 0" not in text and "Bytes" not in text


def test_small_sizes_read_as_the_large_ones():
    e = count_source(FileSource(str(DATA / "dns.pcap")), dissect_packets=0).engine
    text = render_summary(e.snapshot())
    assert text.startswith("5 packets, 536 B, 4 hosts, 1 conversation ")
    assert "Bytes" not in text and "Top" not in text  # 4 hosts: all of them, "Hosts"
    assert "\nHosts\n" in text and "310 B" in text
    e = count_source(FileSource(str(DATA / "1kxun.pcap")), dissect_packets=0).engine
    text = render_summary(e.snapshot())
    assert text.startswith("1723 packets, 2.5 MB (2527774 bytes), 100 hosts, ")
    assert "Top 10 hosts" in text and "Top 10 conversations" in text
    assert "489 B" in text and "Bytes" not in text
