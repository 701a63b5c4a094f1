"""What a loaded dataset holds, for a person to check before any work: a few samples with their
labels (thumbnails for images, the first rows for a CSV), the class balance per split, the facts
of the split, and the files that were skipped and why.

The dashboard's data panel draws it; in a notebook the fields can be read directly.

Example:
    >>> from workbench.data import load_digits_task
    >>> preview = describe(load_digits_task())
    >>> preview.kind, len(preview.samples), int(preview.balance.loc["0", "test"])
    ('arrays', 20, 45)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

SAMPLES_PER_CLASS = 2
MAX_SAMPLES = 20
MAX_CLASSES_IN_BALANCE = 50
THUMBNAIL = 64  # pixels, the longer side


@dataclass
class Sample:
    """One sample to show: a uint8 image (height, width, 1 or 3) and its label as words."""

    image: np.ndarray
    label: str


@dataclass
class DataPreview:
    """See the module doc. ``balance``: images or rows per class (rows) and split (columns),
    ``None`` for regression targets; ``head``: a CSV's first rows; ``skipped``: (file, why)."""

    name: str
    kind: str
    facts: list[str]
    samples: list[Sample] = field(default_factory=list)
    head: object = None  # a pandas DataFrame for a CSV
    balance: object = None  # a pandas DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skipped_reasons(self) -> Counter:
        """How many files were skipped for each reason."""
        return Counter(why for _, why in self.skipped)


def describe(dataset) -> DataPreview:
    """The preview of a task's dataset (an in-memory ``Dataset`` or a ``StreamDataset``, as a
    prepared task holds it)."""
    info = dataset.info or {}
    kind = info.get("kind") or ("arrays" if hasattr(dataset, "x_test") else "tf.data")
    facts = [_sizes(dataset)]
    facts += [f"split: {info['split']}"] if info.get("split") else []
    if kind == "image folder":
        facts.append("images resized to {}x{}, preprocessing '{}'".format(
            *info["image_size"], info["preprocessing"]))
        return DataPreview(dataset.name, kind, facts, _file_samples(info["samples"]),
                           balance=_balance_frame(info["balance"]), skipped=info["skipped"])
    if kind == "CSV":
        facts.append(f"label column '{info['label_column']}', {len(info['features'])} feature "
                     "column(s)")
    labels = {"train": getattr(dataset, "y_train", None), "test": dataset.y_test}
    classes = _class_labels(labels["test"])
    if classes is None and isinstance(labels["test"], np.ndarray):
        values = labels["test"].astype("float64")
        facts.append(f"test split targets from {values.min():.4g} to {values.max():.4g} "
                     f"(mean {values.mean():.4g})")
    balance = None
    if classes is not None:
        balance = _balance_frame({
            split: {str(label): count for label, count in zip(*np.unique(values,
                                                                           return_counts=True))}
            for split, values in labels.items() if _class_labels(values) is not None})
    samples = [] if kind == "CSV" else _array_samples(dataset, labels["test"])
    return DataPreview(dataset.name, kind, facts, samples, head=info.get("head"),
                       balance=balance)


def _sizes(dataset) -> str:
    """The splits' sizes (a user's training stream is not read through just to count it)."""
    if not hasattr(dataset, "x_train") and dataset.info is None:
        return f"{dataset.test_size:,} test samples; training samples streamed (not counted)"
    return f"{dataset.train_size:,} training and {dataset.test_size:,} test samples"


def _class_labels(labels) -> np.ndarray | None:
    """``labels`` when they are class indices (whole numbers, few enough to tabulate)."""
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "biu":
        return None
    return labels if len(np.unique(labels)) <= MAX_CLASSES_IN_BALANCE else None


def _balance_frame(counts: dict[str, dict[str, int]]):
    import pandas as pd

    frame = pd.DataFrame(counts).fillna(0).astype("int64")
    frame.index = frame.index.map(str)
    frame.index.name = "class"
    return frame


def _file_samples(samples: list[tuple[str, str]]) -> list[Sample]:
    """Thumbnails of image files, read with PIL (a few files, never the whole folder)."""
    from PIL import Image

    shown = []
    for path, label in samples[:MAX_SAMPLES]:
        with Image.open(path) as image:
            image = image.convert("L" if image.mode in ("1", "L", "I", "I;16") else "RGB")
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            shown.append(Sample(np.asarray(image).reshape(image.height, image.width, -1),
                                label))
    return shown


def _array_samples(dataset, labels) -> list[Sample]:
    """Test samples of an image-like single input (height, width, 1 or 3 channels), a few per
    class, scaled to 0..255 together; none for other inputs."""
    batch = next(dataset.test_input_batches(256), None)
    if batch is None or isinstance(batch, (dict, tuple)):
        return []
    images = np.asarray(batch)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or min(images.shape[1:3]) < 4:
        return []
    labels = np.asarray(labels)[:len(images)]
    chosen = _a_few_per_class(labels) if _class_labels(labels) is not None \
        else list(range(min(MAX_SAMPLES, len(images))))
    low, high = float(images[chosen].min()), float(images[chosen].max())
    scaled = (images[chosen] - low) / ((high - low) or 1.0) * 255.0
    return [Sample(np.round(image).astype("uint8"), _label_words(labels[index]))
            for image, index in zip(scaled, chosen)]


def _a_few_per_class(labels) -> list[int]:
    """The indices of the first ``SAMPLES_PER_CLASS`` samples of each class, class by class."""
    labels = np.asarray(labels)
    chosen = []
    for label in np.unique(labels):
        chosen += np.flatnonzero(labels == label)[:SAMPLES_PER_CLASS].tolist()
    return chosen[:MAX_SAMPLES]


def _label_words(label) -> str:
    value = np.asarray(label)
    if value.ndim:
        return ", ".join(_label_words(item) for item in value.ravel()[:3])
    return str(int(value)) if value.dtype.kind in "biu" else f"{float(value):.4g}"


def first_samples_per_class(paths, labels, classes: list[str]) -> list[tuple[str, str]]:
    """The first files of each class, as (path, class name) pairs."""
    return [(str(paths[index]), classes[labels[index]]) for index in _a_few_per_class(labels)]
