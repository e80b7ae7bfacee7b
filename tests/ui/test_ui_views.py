"""Snapshots of the Stations, Sizes and Ports views (keys 6, 7, 8) at 80x24 and 160x48, and
the tab bar's layouts (baselines: top-level snapshots/, as tests/ui/test_ui_snapshots.py).

The fixture capture (1kxun.pcap) counted up front by an in-process engine, a fixed clock."""

from __future__ import annotations

import pytest

from tests.support.app import make_app, settle

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("view", ["stations", "sizes", "ports"])
def test_new_view(snap_compare, view, size):
    assert snap_compare(make_app(view=view), terminal_size=SIZES[size], run_before=settle)


def test_ports_filtered_by_service(snap_compare):
    """``proto https`` on the Ports view: the port of that name, and nothing else."""
    keys = ["slash", *"proto https or port 53", "enter"]
    assert snap_compare(make_app(view="ports"), press=keys, terminal_size=(80, 24),
                        run_before=settle)
