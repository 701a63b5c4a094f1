"""Task data: datasets in memory (``.npz``, CSV, arrays), streamed (``tf.data``, image folders),
and representative samples for calibration. ``load_data`` takes any of them.

Example:
    >>> task = load_digits_task()
    >>> task.x_train.shape[1:], task.calibration.shape
    ((8, 8, 1), (200, 8, 8, 1))
"""

from workbench.data.arrays import (
    DEFAULT_CALIBRATION_SIZE, NPZ_ARRAYS, Dataset, check_fits_model, generated_inputs,
    input_names, load_digits_task, load_npz, output_names, representative_array,
    representative_inputs,
)
from workbench.data.images import ImageFolder, preprocessing_function
from workbench.data.preview import DataPreview, describe
from workbench.data.sources import extract_zip, load_data
from workbench.data.streams import StreamDataset, from_tf_data
from workbench.data.tabular import load_csv

__all__ = [
    "DEFAULT_CALIBRATION_SIZE", "NPZ_ARRAYS", "DataPreview", "Dataset", "ImageFolder",
    "StreamDataset", "check_fits_model", "describe", "extract_zip", "from_tf_data",
    "generated_inputs", "input_names", "load_csv", "load_data", "load_digits_task", "load_npz",
    "output_names", "preprocessing_function", "representative_array", "representative_inputs",
]
