"""The integer kernels (``workbench.kernels.run_tflite``) against LiteRT on this host, one
thread: MobileNet v2 (224) int8, random weights with batch-norm statistics and calibration
from uniform noise.

1. Time per inference: the kernels (``IntegerModel.run``; parsing the flatbuffer once, timed
   apart), LiteRT's reference kernels (``BUILTIN_REF``) and LiteRT's default kernels (XNNPACK),
   median of ``REPEATS`` runs each, measured side by side. Goal: the kernels no slower than the
   reference kernels; the ratio to XNNPACK is reported.
2. Bit-exactness: every tensor against the reference kernels (mismatching values: goal 0).
3. Where LiteRT's default kernels differ from its reference kernels, per op type: values that
   differ and by how many codes at most, each op alone (fed the reference inputs) and end to
   end (differences carried along the network). The kernels follow the reference.

Prints tables and writes bench/results/kernels.json.

    python -m bench.kernels
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # numpy's BLAS on one thread, like LiteRT here
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench.common import REPO, show_and_write  # noqa: E402

CACHE = REPO / "bench" / ".cache"
MODEL = "mobilenet_v2:224"
REPEATS = 5
GOALS = {"kernels_over_reference": 1.0, "mismatching_values": 0}


def exported() -> bytes:
    """MobileNet v2 (224) int8, cached in bench/.cache."""
    path = CACHE / "kernels-mobilenet_v2_224-int8.tflite"
    if not path.is_file():
        import keras

        from workbench.ptq import convert
        from workbench.recipes import make_config
        from workbench.zoo import build_zoo_model, with_batch_norm_statistics

        print(f"exporting {MODEL} (int8)...", flush=True)
        keras.utils.set_random_seed(0)
        model = build_zoo_model(MODEL)
        samples = np.random.default_rng(0).uniform(-1, 1, (8, 224, 224, 3)).astype("float32")
        model = with_batch_norm_statistics(model, samples)
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_bytes(convert(model, make_config("int8"), samples, progress=False))
    return path.read_bytes()


def median_seconds(run) -> float:
    run()  # warm up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def litert_runner(tflite: bytes, resolver: str, image):
    from workbench.kernels.litert import litert_interpreter

    interpreter = litert_interpreter(tflite, resolver, keep_all=False)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    return interpreter.invoke


def differences_by_op(tflite: bytes, image, ours: dict) -> list[dict]:
    """Per op type, where LiteRT's default kernels differ from the reference ones (which the
    kernels equal): ``alone`` feeds each op, run by itself in LiteRT's default kernels, the
    reference inputs (the op's own rounding); ``end_to_end`` runs the whole model in the
    default kernels (differences carried from op to op)."""
    from workbench.kernels import IntegerModel
    from workbench.kernels.litert import compare_tensors, litert_interpreter, litert_tensors
    from workbench.kernels.runner import single_op_model, variable_inputs

    model = IntegerModel(tflite)
    end_to_end = compare_tensors(ours, litert_tensors(tflite, [image], "default"))
    end_to_end = end_to_end.set_index("tensor")
    rows: dict[str, dict] = {}
    for op in model.info.ops:
        output = model.info.tensors[op.outputs[0]]
        runner = litert_interpreter(single_op_model(tflite, op.index), "default", keep_all=False)
        for detail, index in zip(runner.get_input_details(), variable_inputs(model.info, op)):
            runner.set_tensor(detail["index"], ours[model.info.tensors[index].name])
        runner.invoke()
        alone = runner.get_tensor(runner.get_output_details()[0]["index"]).astype(np.int64)
        gap = np.abs(alone - ours[output.name].astype(np.int64))
        row = rows.setdefault(op.name, {"op": op.name, "count": 0, "values": 0,
                                        "alone_differ": 0, "alone_max_codes": 0,
                                        "end_to_end_differ": 0, "end_to_end_max_codes": 0})
        row["count"] += 1
        row["values"] += int(gap.size)
        row["alone_differ"] += int(np.count_nonzero(gap))
        row["alone_max_codes"] = max(row["alone_max_codes"], int(gap.max()))
        row["end_to_end_differ"] += int(end_to_end.loc[output.name, "mismatches"])
        row["end_to_end_max_codes"] = max(row["end_to_end_max_codes"],
                                          int(end_to_end.loc[output.name, "max_abs_diff"]))
    return list(rows.values())


def main() -> None:
    from workbench.kernels import IntegerModel
    from workbench.kernels.litert import compare_tensors, litert_tensors

    tflite = exported()
    image = np.random.default_rng(1).integers(-128, 128, (1, 224, 224, 3)).astype(np.int8)
    start = time.perf_counter()
    model = IntegerModel(tflite)
    parse_seconds = time.perf_counter() - start
    timings = {
        "kernels": median_seconds(lambda: model.run([image])),
        "litert_reference": median_seconds(litert_runner(tflite, "reference", image)),
        "litert_default_xnnpack": median_seconds(litert_runner(tflite, "default", image)),
    }
    ours = model.run([image])
    table = compare_tensors(ours, litert_tensors(tflite, [image], "reference"))
    mismatches = int(table["mismatches"].sum())
    rows = [{"runner": name, "ms": 1000 * seconds,
             "vs_reference": seconds / timings["litert_reference"]}
            for name, seconds in timings.items()]
    rows.append({"runner": "kernels: parse the .tflite (once)", "ms": 1000 * parse_seconds,
                 "vs_reference": float("nan")})
    by_op = differences_by_op(tflite, image, ours)
    import pandas as pd

    print(pd.DataFrame(by_op).to_string(index=False))
    print(f"\n{len(table)} tensors, {int(table['elements'].sum()):,} values: {mismatches} differ "
          "from LiteRT's reference kernels\n")
    ratio = timings["kernels"] / timings["litert_reference"]
    show_and_write("kernels", rows, {
        "model": MODEL, "repeats": REPEATS, "goals": GOALS, "timings_s": timings,
        "parse_s": parse_seconds, "kernels_over_reference": ratio,
        "kernels_over_xnnpack": timings["kernels"] / timings["litert_default_xnnpack"],
        "goal_met": ratio <= GOALS["kernels_over_reference"] and mismatches == 0,
        "mismatching_values": mismatches, "default_vs_reference_by_op": by_op})


if __name__ == "__main__":
    main()
