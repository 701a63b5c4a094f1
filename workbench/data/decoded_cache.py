"""The test split of an image folder, kept decoded in one ``.npy`` file after its first full
pass, so that every later evaluation (each variant of a sweep) reads pixels instead of decoding
images again. Written and read one batch at a time (plain file reads, no memory map), so memory
stays bounded by the batch either way; the file appears only when a pass was complete (written
under a temporary name, then renamed), and a split larger than ``max_bytes`` or a workspace that
cannot be written is simply streamed from the images each time.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> cache = DecodedCache(pathlib.Path(tempfile.mkdtemp()) / "t.npy", count=3, batch_size=2)
    >>> first = list(cache.batches(lambda: iter([np.ones((2, 4)), np.zeros((1, 4))])))
    >>> [len(batch) for batch in cache.batches(lambda: iter([]))]   # read back, not decoded
    [2, 1]
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from workbench.errors import DataError

MAX_CACHE_BYTES = 2 * 2**30


class DecodedCache:
    """See the module doc: ``count`` samples expected at ``path``, read back ``batch_size``
    at a time."""

    def __init__(self, path: Path, count: int, batch_size: int,
                 max_bytes: int = MAX_CACHE_BYTES):
        self.path, self.count, self.batch_size = Path(path), count, batch_size
        self.max_bytes = max_bytes

    def batches(self, decode: Callable[[], Iterator[np.ndarray]]) -> Iterator[np.ndarray]:
        """The split's batches: read from the file when it is there, else from ``decode()``
        (written to the file as they pass)."""
        if self.path.is_file():
            yield from self._read()
        else:
            yield from self._decode_and_keep(decode())

    def _read(self) -> Iterator[np.ndarray]:
        with open(self.path, "rb") as file:
            np.lib.format.read_magic(file)
            shape, _, dtype = np.lib.format.read_array_header_2_0(file)
            for start in range(0, shape[0], self.batch_size):
                batch = np.empty((min(self.batch_size, shape[0] - start), *shape[1:]), dtype)
                if file.readinto(memoryview(batch).cast("B")) != batch.nbytes:
                    raise DataError(f"The decoded-image cache '{self.path}' is cut short. "
                                    "Expected a complete file: delete it (it is rebuilt from "
                                    "the images on the next run).")
                yield batch

    def _decode_and_keep(self, batches: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        partial = self.path.with_name(f"{self.path.stem}.{uuid.uuid4().hex}.partial")
        file, written = None, 0
        try:
            for batch in batches:
                if written == 0:
                    file = self._start(partial, batch)
                if file is not None:
                    file = self._append(file, partial, batch)
                written += len(batch)
                yield batch
            if file is not None and written == self.count:
                file.close()
                os.replace(partial, self.path)
        finally:
            if file is not None and not file.closed:
                file.close()
            partial.unlink(missing_ok=True)

    def _start(self, partial: Path, first: np.ndarray):
        """The open file with its header, or ``None`` (too big, or nowhere to write it)."""
        if first.ndim < 1 or self.count * first[0].nbytes > self.max_bytes:
            return None
        try:
            partial.parent.mkdir(parents=True, exist_ok=True)
            file = open(partial, "wb")
            np.lib.format.write_array_header_2_0(file, {
                "descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False,
                "shape": (self.count, *first.shape[1:])})
            return file
        except OSError:
            return None

    @staticmethod
    def _append(file, partial: Path, batch: np.ndarray):
        try:
            file.write(np.ascontiguousarray(batch).tobytes())
            return file
        except OSError:  # a full disk: stop keeping, go on streaming
            file.close()
            partial.unlink(missing_ok=True)
            return None
