"""Load a Keras 3 model from a file, a SavedModel directory or memory, with clear errors.

``.keras`` files load with Keras safe mode on: a model carrying Python code
(a ``Lambda`` layer) is refused unless the caller opts out with
``safe_mode=False`` after checking the file comes from a trusted source.

Example:
    >>> model = load_model("model.keras")            # doctest: +SKIP
    >>> model = load_model(my_keras_model)           # returned unchanged
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from workbench.errors import ModelLoadError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
EXPECTED = "a .keras file, a .h5 file, a SavedModel directory or a keras.Model"


def load_model(source, safe_mode: bool = True):
    """Return a ``keras.Model`` from ``source`` (path or model); see the module doc."""
    import keras

    if isinstance(source, keras.Model):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise ModelLoadError(
            f"Cannot load a model from a {type(source).__name__}. Expected {EXPECTED}."
        )
    path = Path(source)
    if not path.exists():
        raise ModelLoadError(f"No model file or directory at '{path}'. Expected {EXPECTED}.")
    if path.is_dir():
        return _load_saved_model(path)
    kind = _file_kind(path)
    _check_suffix_matches(path, kind)
    if kind == "keras":
        return _load_keras_archive(path, safe_mode)
    if kind == "h5":
        return _load_with_keras(path, safe_mode)
    raise ModelLoadError(
        f"'{path}' is not a model file: it is neither a .keras (zip) archive nor an HDF5 "
        f"file. Expected {EXPECTED}."
    )


# what the content is -> the file names Keras loads it under
SUFFIXES = {"keras": (".keras",), "h5": (".h5", ".hdf5")}
KIND_WORDS = {"keras": "a .keras (zip) archive", "h5": "an HDF5 (legacy .h5) model"}


def _check_suffix_matches(path: Path, kind: str | None) -> None:
    """Keras picks its loader by the file name: content under another name gets a clear error."""
    if kind is None or path.suffix.lower() in SUFFIXES[kind]:
        return
    fixed = path.with_suffix(SUFFIXES[kind][0]).name
    raise ModelLoadError(
        f"'{path}' holds {KIND_WORDS[kind]} under the name '{path.name}', and Keras chooses how "
        f"to read a model by its name. Expected the name to match the content: rename the file "
        f"to '{fixed}'.")


def _file_kind(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(ZIP_SIGNATURE):
        return "keras"
    if head == HDF5_SIGNATURE:
        return "h5"
    return None


def _load_keras_archive(path: Path, safe_mode: bool):
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            corrupt = archive.testzip()
    except zipfile.BadZipFile:
        raise ModelLoadError(
            f"'{path}' is a damaged .keras archive (truncated or corrupted: its zip directory "
            "cannot be read). Save the model again with model.save('model.keras')."
        ) from None
    if corrupt is not None:
        raise ModelLoadError(
            f"'{path}' is a damaged .keras archive ({corrupt} fails its checksum). "
            "Save the model again with model.save('model.keras')."
        )
    if "config.json" not in names:
        raise ModelLoadError(
            f"'{path}' is a zip archive without config.json, so not a Keras 3 .keras file. "
            f"Expected {EXPECTED}."
        )
    return _load_with_keras(path, safe_mode)


def _load_with_keras(path: Path, safe_mode: bool):
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=safe_mode)
    except Exception as error:  # Keras raises many types; each is turned into one line
        message = str(error)
        if "Lambda" in message and ("unsafe" in message or "safe_mode" in message):
            raise ModelLoadError(
                f"'{path}' contains a Lambda layer, i.e. Python code that would run when the "
                "model loads, which could do anything on this machine; safe mode refused it. "
                "If you trust where the file comes from, load it with safe_mode=False "
                "(command line: --unsafe)."
            ) from None
        first_line = message.strip().splitlines()[0] if message.strip() else type(error).__name__
        raise ModelLoadError(
            f"Keras could not load '{path}': {first_line}. Expected {EXPECTED}; if the model "
            "uses custom layers, register them with @keras.saving.register_keras_serializable."
        ) from None


def _load_saved_model(path: Path):
    """Wrap a TensorFlow SavedModel's serving signature as a single-input Keras model."""
    import keras
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise ModelLoadError(
            f"'{path}' is a directory without saved_model.pb, so not a SavedModel. "
            f"Expected {EXPECTED}."
        )
    if not (path / "variables").is_dir():
        raise ModelLoadError(
            f"The SavedModel at '{path}' has no variables/ folder (it holds "
            f"{', '.join(sorted(p.name for p in path.iterdir()))}), so its weights are missing. "
            "Expected the whole folder model.export() writes: copy it again with variables/.")
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:  # TensorFlow raises many types; each is turned into one line
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelLoadError(
            f"TensorFlow could not load the SavedModel at '{path}': {first_line}. Expected "
            "a complete folder written by model.export(): export the model again.") from None
    endpoint = next(
        (name for name in ("serving_default", "serve") if name in loaded.signatures), None
    )
    if endpoint is None:
        raise ModelLoadError(
            f"The SavedModel at '{path}' has no 'serving_default' or 'serve' signature "
            f"(it has: {', '.join(loaded.signatures) or 'none'}). Export it with model.export()."
        )
    specs = loaded.signatures[endpoint].structured_input_signature[1]
    if len(specs) != 1:
        raise ModelLoadError(
            f"The SavedModel at '{path}' takes {len(specs)} inputs; the workbench supports "
            "models with exactly one input."
        )
    spec = next(iter(specs.values()))
    inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name)
    outputs = keras.layers.TFSMLayer(str(path), call_endpoint=endpoint)(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ModelLoadError(
                f"The SavedModel at '{path}' has {len(outputs)} outputs; the workbench supports "
                "models with exactly one output."
            )
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs, name=path.name)
