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
    assert [trace.name for trace in figure.data] == ["m", "Pareto front"]
    trace, front = figure.data
    assert list(trace.x) == [4.0, 1.0] and list(trace.y) == [0.98, 0.97]
    assert list(front.x) == [1.0, 4.0]  # neither beats the other on both size and accuracy
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


def test_pareto_front_keeps_only_unbeaten_rows():
    from workbench.plots import pareto_front

    frame = pd.DataFrame({"size": [1, 2, 3, 4, 2], "accuracy": [0.90, 0.95, 0.94, 0.97, 0.80]})
    assert list(pareto_front(frame, "size", "accuracy").index) == [0, 1, 3]


def test_device_latency_marks_variants_that_do_not_fit():
    frame = _frame([0.98, 0.97, None])
    frame["est_ms__mcu"] = [None, 3.0, None]
    frame["fits__mcu"] = [0, 1, 0]
    figure = tradeoff_figure(frame, latency="est_ms__mcu", device_menu=True)
    visible = [trace for trace in figure.data if trace.visible is not False]
    names = [trace.name for trace in visible]
    assert names == ["m", "does not run or fit (mcu)", "Pareto front"]
    assert list(visible[0].marker.color) == [3.0] and list(visible[1].text) == ["float32"]
    buttons = figure.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["host, measured (1 thread)", "mcu, estimated"]
    with pytest.raises(ValueError, match="Received: latency='est_ms__gpu'"):
        tradeoff_figure(frame, latency="est_ms__gpu")


def test_each_recipe_keeps_its_colour():
    from workbench.plots import RECIPE_COLOURS
    from workbench.recipes import RECIPES

    assert set(RECIPE_COLOURS) == set(RECIPES)
    assert len(set(RECIPE_COLOURS.values())) == len(RECIPE_COLOURS)
    first = tradeoff_figure(_frame([0.98, 0.97, None])).data[0]
    alone = tradeoff_figure(_frame([None, 0.97, None])).data[0]
    assert list(first.marker.line.color) == [RECIPE_COLOURS["float32"], RECIPE_COLOURS["int8"]]
    assert list(alone.marker.line.color) == [RECIPE_COLOURS["int8"]]
