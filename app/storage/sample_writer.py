"""Sample storage off the control loop: a thread of its own stores plant snapshots while the next poll runs.

Snapshots are stored in the order they are submitted. Whatever has queued up while a transaction was being
committed goes into the next transaction together, so a writer that falls behind (a large estate on a slow
disk) catches up with fewer, larger commits rather than an ever longer queue. Each submission gets a future
that resolves to its number of samples once they are committed, or to the storage error; after an error the
writer refuses further snapshots (raising that error) rather than store later samples around a gap.
"""

from __future__ import annotations

import itertools
import queue
import threading
from concurrent.futures import Future

from app.snapshot import PlantSnapshot
from app.storage.historian import Historian, snapshot_rows

MAX_PENDING = 16


class SampleWriter:
    """Stores snapshots' samples through `historian` from a background thread, in submission order."""

    def __init__(self, historian: Historian, max_pending: int = MAX_PENDING) -> None:
        """`max_pending`: snapshots that may wait for storage; `submit` blocks (back-pressure) beyond that."""
        self.historian = historian
        self._queue: queue.Queue[tuple[PlantSnapshot, Future[int]] | None] = queue.Queue(max_pending)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sample-writer", daemon=True)
        self._thread.start()

    def submit(self, snapshot: PlantSnapshot) -> Future[int]:
        """Queue `snapshot` for storage; the future gives its sample count once committed."""
        if self._error is not None:
            raise RuntimeError(f"sample storage failed: {self._error}") from self._error
        if self._closed:
            raise RuntimeError("the sample writer is closed")
        done: Future[int] = Future()
        self._queue.put((snapshot, done))
        return done

    def close(self) -> None:
        """Store everything submitted, then stop the thread; raises the storage error if there was one."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"sample storage failed: {self._error}") from self._error

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            pending = [item for item in batch if item is not None]
            if pending and self._error is None:
                self._store(pending)
            elif pending:
                for _, done in pending:
                    done.set_exception(RuntimeError(f"sample storage failed earlier: {self._error}"))
            if batch[-1] is None:
                return

    def _store(self, pending: list[tuple[PlantSnapshot, Future[int]]]) -> None:
        try:
            self.historian.record_samples(itertools.chain.from_iterable(snapshot_rows(s) for s, _ in pending))
        except Exception as exc:  # noqa: BLE001 - handed to every waiting submitter and the next caller
            self._error = exc
            for _, done in pending:
                done.set_exception(exc)
            return
        for snapshot, done in pending:
            done.set_result(sum(len(d.readings) for d in snapshot.devices.values()))
