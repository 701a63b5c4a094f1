"""The trade-off figure: accuracy when it exists, latency otherwise; never a made-up point."""

import pandas as pd
import pytest

from workbench.plots import tradeoff_figure


def _frame(accuracy):
    return pd.DataFrame({
        "model": ["m", "m", "z"], "recipe": ["float32", "int8", "float32"],
        "size_bytes": [4096, 1024, 2048], "gzip_bytes": [4000, 900, 1900],
        "accuracy": accuracy, "agreement": [1.0, 0.99, None],
        "latency_ms": [2.0, 1.0, 4.0],
    })


def test_accuracy_axis_drops_rows_without_accuracy():
    figure = tradeoff_figure(_frame([0.98, 0.97, None]))
    assert [trace.name for trace in figure.data] == ["m"]
    (trace,) = figure.data
    assert list(trace.x) == [4.0, 1.0] and list(trace.y) == [0.98, 0.97]
    assert list(trace.marker.color) == [2.0, 1.0]
    assert figure.layout.yaxis.title.text == "accuracy (test split)"


def test_latency_axis_when_no_accuracy_exists():
    figure = tradeoff_figure(_frame([None, None, None]), size="gzip_bytes")
    assert [trace.name for trace in figure.data] == ["m", "z"]
    assert list(figure.data[1].y) == [4.0]
    assert figure.layout.xaxis.title.text == "gzip size (KB)"


def test_unknown_size_column():
    with pytest.raises(ValueError, match="Received: size='bytes'"):
        tradeoff_figure(_frame([None] * 3), size="bytes")
