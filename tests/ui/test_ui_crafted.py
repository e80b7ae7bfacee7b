"""The app on captures whose times lie far outside any clock (issue 19): every view shows,
a save writes the CSV files; no crash screen."""

from __future__ import annotations

import os

import pytest

from tests.support import crafted as c
from tests.support.app import FILES, make_app, settle


@pytest.mark.parametrize("name", c.FAR_TIMES)
async def test_far_times_in_every_view_and_a_save(tmp_path, name):
    app = make_app(str(c.far_time_pcapng(tmp_path, name)), csv_dir=str(tmp_path / "out"))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        for key, view, total in (("1", "interfaces", 1), ("2", "hosts", 4),
                                 ("4", "conversations", 2), ("3", "protocols", None)):
            await pilot.press(key)
            await settle(pilot)
            assert app.table.view == view and app.last_page.view == view
            if total is not None:
                assert app.last_page.total == total
            lines = [app.table.render_line(y).text for y in range(app.table.size.height)]
            assert any(line.strip() for line in lines[1:])
        await pilot.press("s")
        await settle(pilot)
        assert app.saved[-1].error is None
        assert sorted(os.listdir(tmp_path / "out")) == FILES
    assert app.return_code in (None, 0)
