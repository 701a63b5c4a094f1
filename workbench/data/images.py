"""An image folder as a task: one subfolder per class, loaded with Keras' own
``keras.utils.image_dataset_from_directory``, resized to the model's input.

The split is stated: separate ``train/`` and ``test/`` folders, or one folder of classes split by
``validation_split`` with a ``seed``. Every file is checked before any work (a corrupt image, one
class, no images: a clear error); files that are not images are skipped and counted with why.
Preprocessing: ``none`` (raw 0..255 pixels), ``unit`` ([0, 1]), ``symmetric`` ([-1, 1]) or a
``keras.applications`` family's ``preprocess_input`` (e.g. ``mobilenet_v2``).

Example:
    >>> folder = ImageFolder("photos", preprocessing="mobilenet_v2")   # doctest: +SKIP
    >>> folder.scan().classes                                           # doctest: +SKIP
    ['cat', 'dog']
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from workbench.data.arrays import DEFAULT_CALIBRATION_SIZE
from workbench.errors import DataError

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what Keras' loader reads
PREPROCESSING = ("none", "unit", "symmetric")
DEFAULT_PREPROCESSING = "unit"
DEFAULT_VALIDATION_SPLIT = 0.2
COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}
BATCH_SIZE = 64


@dataclass
class Split:
    """One split's images: paths (in reading order), class indices, image sizes."""

    root: Path
    paths: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    sizes: Counter = field(default_factory=Counter)


@dataclass
class FolderScan:
    """What a folder holds, checked: classes, each split's files, and the skipped files."""

    classes: list[str]
    splits: dict[str, Split]
    skipped: list[tuple[str, str]]  # (relative path, why)

    def class_balance(self) -> dict[str, dict[str, int]]:
        """Images per class in each split."""
        return {name: self.per_class(split.labels) for name, split in self.splits.items()}

    def per_class(self, labels) -> dict[str, int]:
        """How many of ``labels`` fall in each class, by class name."""
        return {self.classes[label]: count for label, count in sorted(Counter(labels).items())}

    def sizes(self) -> Counter:
        return sum((split.sizes for split in self.splits.values()), Counter())


def preprocessing_function(name: str):
    """``x -> x`` for a preprocessing choice; a ``DataError`` listing the choices if unknown."""
    if name == "none":
        return lambda x: x
    if name == "unit":
        return lambda x: x / 255.0
    if name == "symmetric":
        return lambda x: x / 127.5 - 1.0
    import importlib

    try:
        module = importlib.import_module(f"keras.applications.{name}")
        return module.preprocess_input
    except (ImportError, AttributeError):
        raise DataError(
            f"Unknown preprocessing {name!r}. Expected none (raw 0..255 pixels), unit ([0, 1]), "
            "symmetric ([-1, 1]) or a keras.applications family such as mobilenet_v2, "
            "resnet50, efficientnet, inception_v3.") from None


@dataclass(frozen=True)
class ImageFolder:
    """An image folder and how to read it (see the module doc); ``bind(model)`` gives the
    task's batched dataset."""

    path: str | os.PathLike
    preprocessing: str = DEFAULT_PREPROCESSING
    validation_split: float = DEFAULT_VALIDATION_SPLIT
    seed: int = 0
    image_size: tuple[int, int] | None = None
    calibration_size: int = DEFAULT_CALIBRATION_SIZE
    cache_folder: str | os.PathLike | None = None  # where the decoded test split is kept

    def __post_init__(self):
        preprocessing_function(self.preprocessing)  # an unknown choice fails here
        if not 0.0 < self.validation_split < 1.0:
            raise DataError(f"Received validation_split={self.validation_split}; expected a "
                            "fraction between 0 and 1 (e.g. 0.2).")

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def separate_splits(self) -> bool:
        root = Path(self.path)
        return (root / "train").is_dir() and (root / "test").is_dir()

    @cached_property
    def scanned(self) -> FolderScan:
        return self.scan()

    def scan(self) -> FolderScan:
        """Index and check every file; raises ``DataError`` naming the problem."""
        root = Path(self.path)
        if not root.is_dir():
            raise DataError(f"No image folder at '{root}'. Expected a folder with one subfolder "
                            "per class (or train/ and test/ folders of them).")
        skipped: list[tuple[str, str]] = []
        if self.separate_splits:
            classes = _class_names(root / "train")
            test_classes = _class_names(root / "test")
            if test_classes != classes:
                raise DataError(
                    f"'{root}/train' has classes {classes} but '{root}/test' has "
                    f"{test_classes}. Expected the same class folders in both.")
            splits = {name: _index(root / name, classes, root, skipped)
                      for name in ("train", "test")}
        else:
            classes = _class_names(root)
            splits = {"all": _index(root, classes, root, skipped)}
        for split in splits.values():
            if not split.paths:
                raise DataError(
                    f"'{split.root}' holds no images ({len(skipped)} other file(s) skipped). "
                    f"Expected {', '.join(IMAGE_EXTENSIONS)} files in each class folder.")
        return FolderScan(classes, splits, skipped)

    def bind(self, model, model_name: str | None = None):
        """The batched dataset for ``model``: images resized to its input (or to
        ``image_size`` / the images' own size when its spatial size is free). ``model_name``
        names the model in errors (default: its Keras name)."""
        shape = tuple(model.inputs[0].shape[1:])
        if len(model.inputs) != 1 or len(shape) != 3 or shape[-1] not in COLOR_MODES:
            raise DataError(
                f"An image folder feeds one image input of shape (height, width, 1|3|4), but "
                f"model '{model_name or model.name}' takes "
                f"{[tuple(t.shape) for t in model.inputs]}.")
        return self.bind_input(shape)

    def bind_input(self, shape: tuple, keep_decoded: bool = True):
        """``bind`` for a model whose one input has ``shape`` (height, width, channels);
        ``keep_decoded=False`` reads the test images from their files on every pass."""
        from workbench.data.decoded_cache import DecodedCache
        from workbench.data.preview import first_samples_per_class
        from workbench.data.streams import StreamDataset

        scan = self.scanned
        size = self.size_for(shape)
        train, test = self._pipelines(size, COLOR_MODES[shape[-1]])
        first = next(iter(scan.splits.values()))
        y_test = np.asarray(self._labels_of(test.file_paths, "test"), "int64")
        balance = scan.class_balance() if self.separate_splits else {  # as the split fell
            "train": scan.per_class(self._labels_of(train.file_paths, "train")),
            "test": scan.per_class(y_test.tolist())}
        info = {"kind": "image folder", "classes": scan.classes, "image_size": size,
                "balance": balance, "skipped": scan.skipped,
                "split": self.split_words(), "preprocessing": self.preprocessing,
                "samples": first_samples_per_class(first.paths, first.labels, scan.classes)}
        fingerprint = self._fingerprint(size, shape[-1])
        cache = None if self.cache_folder is None or not keep_decoded else DecodedCache(
            Path(self.cache_folder) / f"{fingerprint.split(':')[-1]}.npy",
            count=len(test.file_paths), batch_size=BATCH_SIZE)
        stream = StreamDataset(
            self.name, train, test, y_test=y_test,
            fingerprint=fingerprint, train_size=len(train.file_paths), test_cache=cache,
            calibration=lambda count: self._calibration(train.file_paths[:count], size,
                                                        COLOR_MODES[shape[-1]]),
            calibration_size=self.calibration_size, info=info)
        stream.reopen = (self, shape)  # how a copy in another process reads the same files
        return stream

    def size_for(self, input_shape: tuple) -> tuple[int, int]:
        """The (height, width) images are resized to: the model's, else ``image_size``, else the
        images' own (which must then all be the same)."""
        if input_shape[0] is not None and input_shape[1] is not None:
            return int(input_shape[0]), int(input_shape[1])
        if self.image_size:
            return tuple(self.image_size)
        sizes = self.scanned.sizes()
        if len(sizes) > 1:
            listed = ", ".join(f"{w}x{h}: {n}" for (w, h), n in sizes.most_common(4))
            raise DataError(
                f"The images in '{self.path}' have mixed sizes ({listed} file(s)) and the "
                f"model's input size is free {input_shape}. Expected one size: pass "
                "--input-size HEIGHTxWIDTH (image_size= in Python) to resize them all.")
        width, height = next(iter(sizes))
        return height, width

    def split_words(self) -> str:
        if self.separate_splits:
            return "train/ and test/ folders"
        return f"validation split {self.validation_split:g} of one folder, seed {self.seed}"

    def _pipelines(self, size, color_mode):
        import keras

        options = dict(labels="inferred", label_mode="int", class_names=self.scanned.classes,
                       color_mode=color_mode, image_size=size, seed=self.seed, verbose=False,
                       batch_size=BATCH_SIZE)
        root = Path(self.path)
        if self.separate_splits:
            train = keras.utils.image_dataset_from_directory(root / "train", shuffle=True,
                                                             **options)
            test = keras.utils.image_dataset_from_directory(root / "test", shuffle=False,
                                                            **options)
        else:
            train, test = keras.utils.image_dataset_from_directory(
                root, shuffle=True, validation_split=self.validation_split, subset="both",
                **options)
        preprocess = preprocessing_function(self.preprocessing)
        paths = train.file_paths, test.file_paths
        train, test = (ds.map(lambda x, y: (preprocess(x), y)) for ds in (train, test))
        train.file_paths, test.file_paths = paths
        return train, test

    def _labels_of(self, paths, split: str) -> list[int]:
        """Labels from the file paths of ``split`` (the class folder each lies in), so nothing
        is decoded to know them."""
        root = Path(self.path) / (split if self.separate_splits else "")
        index = {name: label for label, name in enumerate(self.scanned.classes)}
        return [index[Path(path).relative_to(root).parts[0]] for path in paths]

    def _calibration(self, paths, size, color_mode) -> np.ndarray:
        import keras

        images = [keras.utils.img_to_array(keras.utils.load_img(
            path, color_mode=color_mode, target_size=size, interpolation="bilinear"))
            for path in paths]
        return np.asarray(preprocessing_function(self.preprocessing)(np.stack(images)),
                          "float32")

    def _fingerprint(self, size, channels) -> str:
        digest = hashlib.sha256(repr((self.preprocessing, size, channels, self.seed,
                                      self.validation_split, self.separate_splits,
                                      self.calibration_size)).encode())
        root = Path(self.path)
        for split in self.scanned.splits.values():
            for path in split.paths:
                stat = path.stat()
                digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}"
                              .encode())
        return f"images:{digest.hexdigest()[:32]}"


def _class_names(root: Path) -> list[str]:
    classes = sorted(entry.name for entry in root.iterdir()
                     if entry.is_dir() and not entry.name.startswith("."))
    if len(classes) < 2:
        raise DataError(
            f"'{root}' has {len(classes)} class folder(s){': ' + classes[0] if classes else ''}. "
            "Expected one subfolder per class, at least two classes (e.g. cats/ and dogs/).")
    return classes


def _index(split_root: Path, classes: list[str], root: Path, skipped: list) -> Split:
    """Every image of ``split_root``'s class folders, opened and verified (header and data)."""
    from PIL import Image, UnidentifiedImageError

    split = Split(split_root)
    for label, name in enumerate(classes):
        for path in sorted(p for p in (split_root / name).rglob("*") if p.is_file()):
            where = str(path.relative_to(root))
            if path.name.startswith("."):
                skipped.append((where, "hidden file"))
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append((where, f"not an image ({path.suffix or 'no extension'})"))
                continue
            try:
                with Image.open(path) as image:
                    size = image.size
                    image.verify()
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
                reason = str(error).replace(str(path), where)  # the file named one way only
                raise DataError(
                    f"'{where}' is not a readable image ({type(error).__name__}: {reason}). "
                    "Expected a JPEG, PNG, BMP or GIF file: replace or delete it.") from None
            split.paths.append(path)
            split.labels.append(label)
            split.sizes[size] += 1
    return split
