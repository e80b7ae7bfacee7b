"""Helpers shared by the tests, from test_drill.py."""

from __future__ import annotations

from tests.support.oracle import tcp_udp_frame, tshark_lines
from tuimon.capture.frames import A_TO_B, B_TO_A


def tshark_conversation_frames(path: str) -> dict:
    """Wireshark's view, frame by frame: {(proto, a, pa, b, pb): [(frame number, direction,
    frame length)]}, A the sender of the first frame (outermost IP header, no reassembly)."""
    convs: dict = {}
    for number, row in enumerate(tshark_lines(path), 1):
        frame = tcp_udp_frame(row)
        if frame is None:
            continue
        flen, _, _, (transport, src, sport, dst, dport) = frame
        forward, backward = (transport, src, sport, dst, dport), (transport, dst, dport, src, sport)
        if backward in convs and forward != backward:
            convs[backward].append((number, B_TO_A, int(flen)))
        else:
            convs.setdefault(forward, []).append((number, A_TO_B, int(flen)))
    return convs
