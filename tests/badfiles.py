"""Builders of bad inputs for the bad-input and fuzz suites: datasets, archives, models and
device profiles that are wrong in one named way each. Every file is generated here."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np


def npz(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def dataset_npz(folder: Path, name: str, dataset, **replace) -> str:
    """The default task's arrays in an .npz, with some replaced (``x_test=...``)."""
    arrays = {"x_train": dataset.x_train, "y_train": dataset.y_train,
              "x_test": dataset.x_test, "y_test": dataset.y_test, **replace}
    return npz(folder / f"{name}.npz", **{k: v for k, v in arrays.items() if v is not None})


def npy_header(shape: tuple, dtype: str = "<f4") -> bytes:
    """A version 1.0 .npy header (magic string included) declaring ``shape``."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue()


def npz_declaring(path: Path, shape: tuple, data: bytes = b"\0" * 64) -> str:
    """An .npz whose x_train header claims ``shape`` float32 over a few bytes of data."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", npy_header(shape) + data)
        for name in ("y_train", "x_test", "y_test"):
            archive.writestr(f"{name}.npy", npy_header((1,), "<i8") + b"\0" * 8)
    return str(path)


def zip_bomb_npz(path: Path, megabytes: int) -> str:
    """A small .npz that expands to ``megabytes`` of zeros (x_train) once decompressed."""
    count = megabytes * 2**20 // 4
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x_train.npy", "w", force_zip64=True) as member:
            member.write(npy_header((count // 64, 8, 8, 1)))
            chunk = bytes(2**22)
            for _ in range(count * 4 // len(chunk)):
                member.write(chunk)
        for name in ("y_train", "x_test", "y_test"):
            archive.writestr(f"{name}.npy", npy_header((1,), "<i8") + b"\0" * 8)
    return str(path)


def pickled_npz(path: Path) -> str:
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros((1, 2)), y_test=np.zeros(1))
    return str(path)


def saved_under_another_name(model, folder: Path, saved_as: str, renamed_to: str) -> str:
    """``model`` saved as ``saved_as`` (its format follows the name), then renamed."""
    path = folder / saved_as
    model.save(path)
    path.replace(folder / renamed_to)
    return str(folder / renamed_to)


def saved_model_without_variables(model, folder: Path) -> str:
    import shutil

    path = folder / "exported"
    model.export(path, verbose=False)
    shutil.rmtree(path / "variables")
    return str(path)


def one_output_model(input_shape=(8, 8, 1)):
    import keras

    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.Flatten()(inputs)), name="one_output")


def three_class_model():
    import keras

    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))


def two_input_model():
    import keras

    a, b = keras.Input((4,), name="input_a"), keras.Input((4,), name="input_b")
    return keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([a, b])))


def lambda_model(path: Path) -> str:
    import keras

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(
        keras.layers.Lambda(lambda t: t * 1.0)(inputs)))
    keras.Model(inputs, outputs).save(path)
    return str(path)


def profile(path: Path, **changes) -> str:
    """A copy of the cortex_m7 profile with fields changed (``None`` removes one); values are
    written as TOML literals (``"nan"`` stays nan)."""
    from workbench.devices.profiles import BUILTIN_FOLDER

    lines = (BUILTIN_FOLDER / "cortex_m7.toml").read_text().splitlines()
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in changes:
            if changes[key] is not None:
                out.append(f"{key} = {changes[key]}")
            continue
        out.append(line)
    path.write_text("\n".join(out) + "\n")
    return str(path)


def mutations(data: bytes, count: int, seed: int):
    """``count`` damaged copies of ``data``: bit flips, truncations and overwritten words."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        damaged = bytearray(data)
        kind = index % 3
        if kind == 0:
            for _ in range(int(rng.integers(1, 8))):
                position = int(rng.integers(0, len(damaged)))
                damaged[position] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            damaged = damaged[: int(rng.integers(0, len(damaged)))]
        else:
            position = int(rng.integers(0, max(1, min(len(damaged) - 4, 8192))))
            damaged[position:position + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        yield bytes(damaged)
