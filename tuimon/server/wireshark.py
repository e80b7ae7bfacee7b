"""Wireshark's view of a few frames, for drill-down only (never on the counting path).

* :func:`summaries`: tshark's one-line summary (the Info column) of every frame in a small
  capture file, in one tshark run.
* :func:`dissection_tree`: the full dissection tree of one frame, through pyshark (PDML).
  pyshark runs tshark and splits its output into packets; we keep the tree's nesting
  (pyshark's own layers flatten it): each node is ``(depth, text, pos, size)``, where
  ``pos``/``size`` are the bytes of the frame the node stands for.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

from tuimon.errors import CaptureToolMissing, TuimonError
from tuimon.text import printable

TREE_LIMIT = 5000  # nodes
TSHARK_TIMEOUT = 120.0


def find_tshark(tshark: str = "tshark") -> str:
    path = shutil.which(tshark)
    if path is None:
        raise CaptureToolMissing("tshark not found: install the tshark package (apt-get install tshark)")
    return path


def summaries(path: str, tshark: str = "tshark") -> dict[int, str]:
    """Frame number -> tshark's Info column, for every frame of ``path``."""
    exe = find_tshark(tshark)
    try:
        done = subprocess.run([exe, "-n", "-r", path, "-T", "fields", "-E", "separator=/t",
                               "-e", "frame.number", "-e", "_ws.col.Info"],
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TSHARK_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TuimonError("tshark took too long to summarize the packets") from None
    out: dict[int, str] = {}
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        number, _, info = line.partition("\t")
        if number.isdigit():
            out[int(number)] = printable(info.strip(), 500)
    if not out and done.returncode:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TuimonError(f"tshark failed: {printable(reason[-1] if reason else str(done.returncode))}")
    return out


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def field_text(el) -> str:
    a = el.attrib
    showname = a.get("showname")
    if showname:
        return showname
    name, show = a.get("name", ""), a.get("show", "")
    if name and show and not name.startswith("_ws."):
        return f"{name}: {show}"
    return show or name or "…"


def pdml_tree(xml: bytes) -> list[tuple[int, str, int, int]]:
    """The nodes of one PDML ``<packet>`` in order, depth first; hidden fields left out."""
    import lxml.etree

    parser = lxml.etree.XMLParser(huge_tree=True, recover=True)
    root = lxml.etree.fromstring(xml, parser)
    nodes: list[tuple[int, str, int, int]] = []

    def walk(el, depth: int) -> None:
        for child in el:
            if len(nodes) >= TREE_LIMIT:
                return
            if child.tag not in ("proto", "field") or child.attrib.get("hide") == "yes":
                continue
            if child.tag == "proto" and child.attrib.get("name") == "geninfo":
                continue
            nodes.append((depth, printable(field_text(child), 400),
                          _int(child.attrib.get("pos")), _int(child.attrib.get("size"))))
            walk(child, depth + 1)

    if root is not None:
        walk(root, 0)
    if len(nodes) >= TREE_LIMIT:
        nodes.append((0, f"(the tree is cut at {TREE_LIMIT} lines)", 0, 0))
    return nodes


def dissection_tree(path: str, number: int, tshark: str = "tshark") -> list[tuple[int, str, int, int]]:
    """Wireshark's dissection of frame ``number`` of ``path`` (the frames before it are
    dissected too, so reassembly and TCP analysis are as Wireshark shows them).

    pyshark runs in a thread of its own: in the main thread it would swap asyncio's child
    watcher for one bound to the main loop, after which it no longer works in any other
    thread (and inside a running event loop it cannot run at all)."""
    if threading.current_thread() is not threading.main_thread():
        return _dissection_tree(path, number, tshark)
    result: list = []

    def run() -> None:
        try:
            result.append(_dissection_tree(path, number, tshark))
        except BaseException as err:  # noqa: BLE001 - raised again below
            result.append(err)

    worker = threading.Thread(target=run, name="tuimon-pyshark", daemon=True)
    worker.start()
    worker.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _dissection_tree(path: str, number: int, tshark: str = "tshark") -> list[tuple[int, str, int, int]]:
    """Wireshark's dissection of frame ``number`` of ``path`` (the frames before it are
    dissected too, so reassembly and TCP analysis are as Wireshark shows them)."""
    exe = find_tshark(tshark)
    import pyshark
    from pyshark.tshark.output_parser.tshark_xml import TsharkXmlParser

    class TreeParser(TsharkXmlParser):
        def _parse_single_packet(self, packet):
            return pdml_tree(packet)

    class TreeCapture(pyshark.FileCapture):
        def _setup_tshark_output_parser(self):
            return TreeParser()

    capture = TreeCapture(path, display_filter=f"frame.number == {int(number)}",
                          keep_packets=False, disable_protocol=None, tshark_path=exe,
                          custom_parameters=["-n", "-c", str(int(number))])  # stop there
    try:
        for tree in capture:
            return tree
    except Exception as err:  # noqa: BLE001 - pyshark's errors become one line
        raise TuimonError(f"pyshark could not dissect the packet: {type(err).__name__}: "
                          f"{printable(str(err))}") from None
    finally:
        try:
            capture.close()
        except Exception:  # noqa: BLE001
            pass
    raise TuimonError(f"Wireshark did not dissect frame {number}")
