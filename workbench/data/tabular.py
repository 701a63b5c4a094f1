"""A CSV for tabular models: one label column named by the user, the other columns as
features, split into train and test with a seed (stratified when the labels are classes).

Example:
    >>> data = load_csv("houses.csv", label_column="price")       # doctest: +SKIP
    >>> data.x_train.shape[1:]                                    # doctest: +SKIP
    (10,)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from workbench.data.arrays import DEFAULT_CALIBRATION_SIZE, Dataset
from workbench.errors import DataError

DEFAULT_TEST_SIZE = 0.25
PREVIEW_ROWS = 5


def load_csv(path: str | os.PathLike, label_column: str | None, test_size: float =
             DEFAULT_TEST_SIZE, seed: int = 0,
             calibration_size: int = DEFAULT_CALIBRATION_SIZE) -> Dataset:
    """Read ``path`` (header row first); ``DataError`` for a missing label column, text in a
    feature column, empty cells or too few rows, naming the column and row."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    path = Path(path)
    if not path.is_file():
        raise DataError(f"No CSV file at '{path}'. Expected a comma-separated file with a "
                        "header row.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"'{path}' is not a readable CSV ({type(error).__name__}: "
                        f"{str(error).splitlines()[0]}). Expected comma-separated values with "
                        "a header row.") from None
    if not label_column:
        raise DataError(f"A CSV needs its label column named: received none for '{path.name}'. "
                        "Name it (the Label column box in the dashboard, --label-column NAME on "
                        "the command line, label_column= in Python), one of: "
                        f"{', '.join(map(str, frame.columns))}.")
    if label_column not in frame.columns:
        raise DataError(
            f"'{path.name}' has no column {label_column!r}. Expected the label column among "
            f"its columns: {', '.join(map(str, frame.columns))}.")
    features = frame.drop(columns=[label_column])
    if features.shape[1] == 0:
        raise DataError(f"'{path.name}' has only the label column {label_column!r}; expected "
                        "at least one feature column beside it.")
    for column in features.columns:
        numbers = pd.to_numeric(features[column], errors="coerce")
        bad = numbers.isna() & features[column].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise DataError(
                f"Column {column!r} of '{path.name}' holds text ({features[column].iloc[row]!r} "
                f"on data row {row + 1}). Expected numbers in every feature column: encode "
                "categories as numbers or drop the column.")
        if numbers.isna().any():
            row = int(np.argmax(numbers.isna().to_numpy()))
            raise DataError(f"Column {column!r} of '{path.name}' has an empty cell on data row "
                            f"{row + 1}. Expected a number in every cell: fill or drop it.")
    labels = pd.to_numeric(frame[label_column], errors="coerce")
    if labels.isna().any():
        row = int(np.argmax(labels.isna().to_numpy()))
        raise DataError(
            f"The label column {label_column!r} of '{path.name}' holds "
            f"{frame[label_column].iloc[row]!r} on data row {row + 1}. Expected numbers: class "
            "indices 0..K-1 or regression targets.")
    x = features.to_numpy("float32")
    y = labels.to_numpy()
    y = y.astype("int64") if np.all(y == np.round(y)) and frame[label_column].dtype.kind in "iub" \
        else y.astype("float32")
    if len(x) < 4:
        raise DataError(f"'{path.name}' has {len(x)} data row(s); expected at least 4 to split "
                        "into train and test.")
    counts = np.unique(y, return_counts=True)[1]
    classes = y.dtype.kind == "i" and len(counts) <= 50 and counts.min() >= 2
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y if classes else None)
    return Dataset(path.stem, x_train, y_train, x_test, y_test, calibration_size, info={
        "kind": "CSV", "label_column": label_column, "features": list(map(str,
                                                                          features.columns)),
        "rows": len(frame), "head": frame.head(PREVIEW_ROWS),
        "split": f"test share {test_size:g}, seed {seed}" + (", stratified" if classes else "")})
