"""One entry point for every data source: ``load_data`` takes what the user has.

- a path: ``.npz`` (arrays), ``.csv`` (with ``label_column``), a folder of class folders, or a
  ``.zip`` of one (extracted into the workspace);
- in Python: a ``Dataset``, an ``ImageFolder``, numpy arrays ``(x_train, y_train, x_test,
  y_test)``, or a pair of ``tf.data.Dataset``s ``(train, test)``.

Example:
    >>> data = load_data("photos.zip", preprocessing="mobilenet_v2")   # doctest: +SKIP
    >>> data = load_data("houses.csv", label_column="price")           # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

from workbench.data.arrays import Dataset, load_npz
from workbench.data.images import DEFAULT_PREPROCESSING, DEFAULT_VALIDATION_SPLIT, ImageFolder
from workbench.data.streams import StreamDataset, from_tf_data
from workbench.data.tabular import load_csv
from workbench.errors import DataError

MAX_ZIP_BYTES = 4 * 2**30  # uncompressed, like the .npz limit
UPLOADS = "uploads"
DECODED = "decoded"


def load_data(source: Any, *, label_column: str | None = None,
              preprocessing: str = DEFAULT_PREPROCESSING,
              validation_split: float = DEFAULT_VALIDATION_SPLIT, seed: int = 0,
              image_size: tuple[int, int] | None = None, max_bytes: int | None = None,
              workspace: str | os.PathLike | None = None):
    """The task data for ``source`` (see the module doc); ``DataError`` for anything else."""
    if isinstance(source, (Dataset, StreamDataset, ImageFolder)):
        return source
    if isinstance(source, tuple) and len(source) == 4:
        return Dataset("arrays", *source)
    if isinstance(source, tuple) and len(source) == 2:
        return from_tf_data(*source)
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(
            f"Received data of type {type(source).__name__}. Expected a path (.npz, .csv, an "
            "image folder or a .zip of one), a workbench Dataset, (x_train, y_train, x_test, "
            "y_test) arrays or a (train, test) pair of tf.data.Datasets.")
    path = Path(source)
    folder_options = dict(preprocessing=preprocessing, validation_split=validation_split,
                          seed=seed, image_size=image_size)
    suffix = path.suffix.lower()
    if path.is_dir():
        return ImageFolder(path, cache_folder=_decoded_folder(workspace), **folder_options)
    if suffix == ".csv":
        return load_csv(path, label_column, seed=seed)
    if suffix == ".zip":
        return ImageFolder(extract_zip(path, workspace), cache_folder=_decoded_folder(workspace),
                           **folder_options)
    if suffix == ".npz" or not path.exists():
        return load_npz(path, max_bytes=max_bytes)
    raise DataError(
        f"Received '{path}' ({suffix or 'no extension'}). Expected an .npz of arrays, a .csv "
        "with a label column, a folder with one subfolder per class, or a .zip of such a folder.")


def _decoded_folder(workspace) -> Path:
    """Where an image folder's decoded test split is kept (``<workspace>/decoded/``)."""
    from workbench.workspace import resolve_workspace

    return resolve_workspace(workspace) / DECODED


def extract_zip(path: str | os.PathLike, workspace: str | os.PathLike | None = None,
                name: str | None = None) -> Path:
    """Unpack an image-folder ``.zip`` into ``<workspace>/uploads/<name>-<hash>/`` (once) and
    return the folder holding the class folders (or train/ and test/)."""
    from workbench.workspace import resolve_workspace

    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"'{name or path.name}' is not a readable .zip ({error}). Expected a "
                        "zip of a folder with one subfolder per class.") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        total = sum(info.file_size for info in members)
        if total > MAX_ZIP_BYTES:
            raise DataError(f"'{name or path.name}' unpacks to {total / 2**30:.2f} GB; the "
                            f"limit is {MAX_ZIP_BYTES / 2**30:.0f} GB. Use the folder itself "
                            "(--data FOLDER) instead of a zip.")
        for info in members:
            parts = Path(info.filename).parts
            if info.filename.startswith("/") or ".." in parts:
                raise DataError(f"'{name or path.name}' holds the entry {info.filename!r}, "
                                "which points outside the archive. Expected relative paths.")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        target = resolve_workspace(workspace) / UPLOADS / f"{Path(name or path.name).stem}-{digest}"
        if not target.is_dir():
            partial = target.with_name(target.name + ".partial")
            archive.extractall(partial)
            partial.rename(target)
    return _folder_root(target)


def _folder_root(folder: Path) -> Path:
    """Descend through a single wrapping folder (a zip of ``photos/`` holds ``photos/cat/``)."""
    while True:
        entries = [entry for entry in folder.iterdir() if not entry.name.startswith((".", "__"))]
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in ("train", "test"):
            inner = [entry for entry in entries[0].iterdir() if entry.is_dir()]
            if inner:
                folder = entries[0]
                continue
        return folder
