"""Builders of user data for the tests: scikit-learn's digits as an image folder (and a zip of
it), CSVs and small tabular models. Everything is generated here or ships with scikit-learn."""

from __future__ import annotations

import shutil
from pathlib import Path

DIGITS_PER_CLASS = 12  # images of each class per split in the digits zip the dashboard gets


def write_digit_folder(root: Path, per_class: int | None = None) -> Path:
    """scikit-learn's digits as 32x32 RGB PNGs, one folder per class, split into train/ and
    test/ (75/25, stratified; ``per_class``: at most that many images of each class per split),
    and one text file that is skipped."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images * (255 / 16)).astype("uint8")
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    for split, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
        written = {label: 0 for label in range(10)}
        for index, (image, label) in enumerate(zip(xs, ys)):
            if per_class is not None and written[label] >= per_class:
                continue
            written[label] += 1
            folder = root / split / f"digit_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            big = Image.fromarray(image).resize((32, 32), Image.NEAREST).convert("RGB")
            big.save(folder / f"{index:04d}.png")
    (root / "train" / "digit_0" / "notes.txt").write_text("not an image")
    return root


def zip_folder(folder: Path, archive: Path) -> Path:
    """``folder`` zipped with itself as the top entry (``digits/train/...``)."""
    return Path(shutil.make_archive(str(archive.with_suffix("")), "zip", folder.parent,
                                    folder.name))


def write_csv(path: Path, frame) -> Path:
    frame.to_csv(path, index=False)
    return path


def tabular_model(features: int, outputs: int, activation=None, name="tabular",
                  sequential: bool = False):
    """One hidden layer of 32; functional, or ``Sequential`` (which has no ``output_names``)."""
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(32, activation="relu"),
              keras.layers.Dense(outputs, activation=activation)]
    if sequential:
        return keras.Sequential([keras.Input((features,), name="features"), *layers], name=name)
    inputs = keras.Input((features,), name="features")
    return keras.Model(inputs, layers[1](layers[0](inputs)), name=name)


def picture_classifier(path: Path) -> Path:
    """An untrained 32x32 RGB classifier of 10 classes, ``Sequential`` as most users build one,
    saved at ``path`` (for loading and previewing, not for its accuracy)."""
    import keras

    keras.utils.set_random_seed(0)
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                      keras.layers.Dense(10, activation="softmax")]).save(path)
    return path
