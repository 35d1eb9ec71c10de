"""Writes packed rows as a ``datasets.save_to_disk`` folder with one fixed-length int32 column ``input_ids``.

Rows are appended to an Arrow IPC stream file as they are produced (bounded memory), which is then opened
memory-mapped with ``Dataset.from_file`` and saved; the temporary file is removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np


class BlockWriter:
    def __init__(self, target: Path, seq_len: int) -> None:
        self.target = Path(target)
        self.seq_len = seq_len
        self.tmp = self.target.parent / f".{self.target.name}.arrow.tmp"
        self._sink: Any = None
        self._writer: Any = None
        self.rows = 0

    def _open(self) -> None:
        import pyarrow as pa

        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self._schema = pa.schema([pa.field("input_ids", pa.list_(pa.int32(), self.seq_len))])
        self._sink = pa.OSFile(str(self.tmp), "wb")
        self._writer = pa.ipc.new_stream(self._sink, self._schema)

    def write(self, rows: np.ndarray) -> None:
        import pyarrow as pa

        if rows.ndim != 2 or rows.shape[1] != self.seq_len:
            raise ValueError(f"rows must have shape (n, {self.seq_len}), got {rows.shape}")
        if self._writer is None:
            self._open()
        values = pa.array(np.ascontiguousarray(rows, dtype=np.int32).ravel(), type=pa.int32())
        column = pa.FixedSizeListArray.from_arrays(values, self.seq_len)
        self._writer.write_batch(pa.record_batch([column], schema=self._schema))
        self.rows += len(rows)

    def close(self, fingerprint: str) -> None:
        import datasets

        if self._writer is None:
            self._open()
        self._writer.close()
        self._sink.close()
        ds = datasets.Dataset.from_file(str(self.tmp), in_memory=False)
        ds._fingerprint = fingerprint  # deterministic state.json (from_file would derive it from the temp path)
        if self.target.exists():
            shutil.rmtree(self.target)
        datasets.disable_progress_bars()  # one log line per event; no progress bars in CloudWatch
        # an empty dataset must still be written as one (empty) shard, or load_from_disk cannot read it back
        ds.save_to_disk(str(self.target), num_shards=1 if self.rows == 0 else None)
        del ds
        self.tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
                self._sink.close()
            except Exception:
                pass
        self.tmp.unlink(missing_ok=True)
