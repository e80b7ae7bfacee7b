"""The socket table of the Processes view, polled in a thread of the engine process.

Once a second (:data:`EVERY`) the thread reads this namespace's TCP and UDP sockets and
their processes (:class:`tuimon.capture.sockets.SocketReader`: /proc, the processes'
descriptors walked only for sockets it does not know) and the interfaces' addresses
(psutil), and hands them to the :class:`tuimon.core.processes.ProcessTable` whole; the
counting thread's fold reads whatever table is the latest. Never on the counting path,
never on the UI's event loop. A poll that fails (psutil refused: no permission to read
other users' sockets) keeps the last table and says why in :attr:`ProcessPoller.error`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tuimon.capture.sockets import SocketReader, read_local_addresses
from tuimon.core.processes import ProcessTable

EVERY = 1.0  # seconds between two polls (at most once a second)


class ProcessPoller:
    def __init__(self, table: ProcessTable, read: Callable[[], list] | None = None,
                 local: Callable[[], frozenset] = read_local_addresses,
                 every: float = EVERY) -> None:
        """``read``: the socket table's reader (default a :class:`SocketReader`'s)."""
        self.table, self.local, self.every = table, local, every
        self.read = read if read is not None else SocketReader().read
        self.error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """One poll, here and now; False when it failed (the last table stays)."""
        try:
            sockets, local = self.read(), self.local()
        except Exception as err:  # noqa: BLE001 - psutil's refusals, a vanished /proc entry
            self.error = f"cannot read the sockets' processes: {type(err).__name__}: {err}"
            return False
        self.error = ""
        self.table.set_sockets(sockets, local)
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tuimon-processes",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
