"""Read named arrays from an ``.npz`` archive safely: shapes checked before any data is read.

An ``.npz`` is a zip of ``.npy`` members, each with a small header declaring its dtype and
shape. The headers are read first (a few bytes each), so an archive that would expand to
more memory than ``max_bytes`` (a 1 MB file can declare 1 GiB of zeros, or 128 TiB) is
refused before it is decompressed; Python objects (pickles) are never loaded.

Example:
    >>> arrays = read_npz_arrays("data.npz", ("x_train", "y_train"))    # doctest: +SKIP
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from workbench.errors import DataError

MAX_DATA_ENV = "WORKBENCH_MAX_DATA_GB"
DEFAULT_MAX_DATA_GB = 4.0
# What one element costs once held: inputs become float32, labels int64.
HELD_ITEMSIZE = {"x": 4, "y": 8}
NPY_MAGIC = b"\x93NUMPY"


def max_data_bytes(max_gb: float | None = None) -> int:
    """The memory a dataset may take: ``max_gb``, else ``$WORKBENCH_MAX_DATA_GB``, else 4 GB."""
    if max_gb is None:
        text = os.environ.get(MAX_DATA_ENV)
        try:
            max_gb = float(text) if text else DEFAULT_MAX_DATA_GB
        except ValueError:
            raise DataError(f"Received {MAX_DATA_ENV}={text!r}; expected a number of GB, "
                            "e.g. 8.") from None
    if not (isinstance(max_gb, (int, float)) and 0 < max_gb < float("inf")):
        raise DataError(f"Received a data limit of {max_gb!r} GB; expected a positive number.")
    return int(max_gb * 2**30)


def _gigabytes(count: int) -> str:
    return f"{count / 2**30:,.2f} GB"


def read_npz_arrays(path: str | os.PathLike, names: tuple[str, ...],
                    max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """The arrays ``names`` of the ``.npz`` at ``path``; ``DataError`` for anything else
    (missing arrays, pickles, a declared size over ``max_bytes``, damaged data)."""
    path = Path(path)
    limit = max_data_bytes() if max_bytes is None else max_bytes
    _check_is_zip(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {Path(info.filename).stem: info for info in archive.infolist()
                       if info.filename.endswith(".npy")}
            missing = [name for name in names if name not in members]
            if missing:
                raise DataError(
                    f"'{path}' lacks the array(s) {', '.join(missing)}; it holds "
                    f"{', '.join(members) or 'nothing'}. Expected arrays {', '.join(names)}: "
                    f"save them with numpy.savez(path, {names[0]}=..., ...).")
            declared = {name: _declared(archive, members[name], path) for name in names}
            total = sum(int(np.prod(shape, dtype=np.float64)) * HELD_ITEMSIZE.get(name[:1], 8)
                        for name, (shape, _) in declared.items())
            if total > limit:
                biggest = max(declared, key=lambda n: np.prod(declared[n][0], dtype=np.float64))
                shape, dtype = declared[biggest]
                raise DataError(
                    f"'{path}' declares arrays that need {_gigabytes(total)} of memory once "
                    f"loaded (the largest, {biggest}, has shape {shape} and dtype {dtype}); "
                    f"the limit is {_gigabytes(limit)}. Expected a dataset that fits: use a "
                    f"smaller split, or raise the limit with --max-data-gb (or "
                    f"${MAX_DATA_ENV}).")
            return {name: _read_member(archive, members[name], path) for name in names}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as error:
        if isinstance(error, DataError):
            raise
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise DataError(
            f"'{path}' is a damaged .npz archive ({type(error).__name__}: {first_line}). "
            "Expected a file written by numpy.savez: write it again.") from None


def _check_is_zip(path: Path) -> None:
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(NPY_MAGIC):
        raise DataError(f"'{path}' is a single .npy array (numpy.save). Expected an .npz "
                        "archive of several arrays: numpy.savez(path, x_train=..., ...).")
    if not head.startswith(b"PK"):
        raise DataError(f"'{path}' is not an .npz archive: it starts with {head!r}, not a zip "
                        "signature. Expected a file written by numpy.savez.")


def _declared(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path):
    """``(shape, dtype)`` from a member's ``.npy`` header, checked for what it may hold."""
    name = Path(info.filename).stem
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            readers = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}
            if version not in readers:
                raise ValueError(f"format version {version}")
            shape, _, dtype = readers[version](member)
        except Exception as error:  # noqa: BLE001 - numpy parses the header text with ast
            if isinstance(error, (zipfile.BadZipFile, zlib.error, OSError)):
                raise
            raise DataError(f"In '{path}', the .npy header of {name} cannot be read "
                            f"({type(error).__name__}). Expected a file written by numpy.savez "
                            "(format 1.0 or 2.0): write it again.") from None
    if dtype.hasobject:
        raise DataError(f"In '{path}', {name} holds Python objects (dtype {dtype}), which would "
                        "be unpickled to load; the workbench never does that. Expected numeric "
                        "arrays.")
    data_bytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if data_bytes > info.file_size:
        raise DataError(f"In '{path}', {name} declares shape {shape} and dtype {dtype} "
                        f"({data_bytes:,} bytes) but its member holds {info.file_size:,} bytes: "
                        "the archive is damaged or truncated. Write it again with numpy.savez.")
    return shape, dtype


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> np.ndarray:
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)
