"""Command line: ``python -m workbench run|sweep|devices|estimate``.

Examples:
    python -m workbench run --model default --recipe int8 --set inference_input_type=float32 --out out
    python -m workbench sweep --model mobilenet_v1:128 --recipes float32,int8 --out out
    python -m workbench run --recipe prune --set sparsity=0.8 export=int8 --out out
    python -m workbench run --recipe prune_2x4+cluster+int16x8 --set cluster.clusters=8 --out out
    python -m workbench devices
    python -m workbench estimate --model mobilenet_v2:160 --recipe int8 --device edge_tpu --json

``run`` and ``sweep`` write ``DIR/results.csv``, the ``.tflite`` files and ``DIR/report.html``.
Bad input ends with a one-line error and a non-zero exit code (``--debug``
shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

from workbench.errors import WorkbenchError

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_NONE_MEETS = 3  # optimize: no variant meets the constraints


def build_parser() -> argparse.ArgumentParser:
    from workbench.recipes import DEFAULT_SWEEP, RECIPES

    parser = argparse.ArgumentParser(
        prog="python -m workbench",
        description="Quantize a Keras 3 model to TFLite variants and measure them in LiteRT.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one recipe on a model")
    run.add_argument("--recipe", required=True,
                     help=f"one of: {', '.join(RECIPES)}; or stages joined by '+', the export "
                          "last, e.g. prune+cluster+int16x8")
    run.add_argument("--set", dest="settings", nargs="*", default=[], metavar="KEY=VALUE",
                     help="recipe options, e.g. inference_input_type=float32 integer_only=false; "
                          "a composition's name their stage: cluster.clusters=8")
    sweep = commands.add_parser("sweep", help="run several recipes on a model")
    sweep.add_argument("--recipes", default=",".join(DEFAULT_SWEEP),
                       help=f"comma-separated recipes, each with its default options "
                            f"(default: the converter's post-training ones, "
                            f"{','.join(DEFAULT_SWEEP)})")
    devices = commands.add_parser("devices", help="list the device profiles")
    doctor = commands.add_parser("doctor", help="check the setup: versions, workspace, store, "
                                                "chromium; exits non-zero with the fix")
    doctor.add_argument("--repair", action="store_true",
                        help="move a damaged store aside and rebuild its rows from the artifacts")
    doctor.add_argument("--tests", action="store_true",
                        help="also require what the test suite needs (chromium)")
    estimate = commands.add_parser("estimate", help="estimate one variant on one device")
    estimate.add_argument("--recipe", default="int8", help="recipe of the variant (default: int8)")
    estimate.add_argument("--set", dest="settings", nargs="*", default=[], metavar="KEY=VALUE",
                          help="recipe options")
    estimate.add_argument("--device", required=True, help="a profile name (see 'devices') or "
                                                          "a path to a .toml profile")
    estimate.add_argument("--tflite", help="estimate this .tflite file instead of converting")
    estimate.add_argument("--json", action="store_true", help="print one JSON object")
    optimize = commands.add_parser(
        "optimize", help="search recipes and options for a device and an accuracy budget")
    optimize.add_argument("--device", required=True, help="a profile name (see 'devices')")
    optimize.add_argument("--max-drop", type=float, default=1.0,
                          help="most metric lost against the float model, in points for "
                               "top-1 (default: 1.0)")
    optimize.add_argument("--max-size-kb", type=float, help="largest .tflite, in KB")
    optimize.add_argument("--max-latency-ms", type=float,
                          help="slowest estimated latency on the device, in ms")
    optimize.add_argument("--max-ram-kb", type=float,
                          help="most estimated peak RAM on the device, in KB")
    optimize.add_argument("--trials", type=int, default=40, help="most trials (default: 40)")
    optimize.add_argument("--time-limit", help="stop after this long, e.g. 90s, 20m, 1h")
    optimize.add_argument("--workers", type=int,
                          help="local Dask worker processes running trials (default: one per "
                               "core; 0: in this process)")
    optimize.add_argument("--scheduler",
                          help="address of a running Dask scheduler whose workers run the "
                               "trials, e.g. tcp://10.0.0.5:8786")
    for sub in (run, sweep, optimize):
        sub.add_argument("--out", default="results", help="output folder (default: results)")
    for sub in (run, sweep):
        sub.add_argument("--force", action="store_true", help="recompute even if stored")
        sub.add_argument("--latency-runs", type=int, default=50,
                         help="timed invokes per latency measurement (default: 50)")
        sub.add_argument("--devices", help="comma-separated device profiles to estimate each "
                                           "variant on (default: all)")
    for sub in (run, sweep, estimate, optimize):
        sub.add_argument("--model", default="default",
                         help="'default', a zoo name (e.g. mobilenet_v1:128) or a model file")
        sub.add_argument("--data", help="an .npz (x_train, y_train, x_test, y_test), a .csv "
                                        "(with --label-column), a folder with one subfolder "
                                        "per class (or train/ and test/ of them), or a .zip of one")
        sub.add_argument("--label-column", help="the label column of a --data CSV")
        sub.add_argument("--preprocessing", default="unit",
                         help="image folders: none (0..255), unit ([0,1], default), symmetric "
                              "([-1,1]) or a keras.applications family (e.g. mobilenet_v2)")
        sub.add_argument("--validation-split", type=float, default=0.2,
                         help="image folder without train/ and test/: the test share (0.2)")
        sub.add_argument("--seed", type=int, default=0,
                         help="seed of the train/test split of a folder or CSV (default: 0)")
        sub.add_argument("--metric", help="top1 (class scores, default), top5, f1, "
                                          "binary_accuracy, auc (one sigmoid), mae, rmse")
        sub.add_argument("--output", help="the output the metric reads (multi-output models)")
        sub.add_argument("--input-size", help="size for an input with free dimensions, e.g. "
                                              "96x96 (default: the data's)")
        sub.add_argument("--weights", help="weights file for a zoo model (e.g. the ImageNet "
                                           ".h5 of mobilenet_v2:224:imagenet)")
        sub.add_argument("--max-data-gb", type=float, default=None,
                         help="refuse a dataset that needs more memory than this (default: "
                              "$WORKBENCH_MAX_DATA_GB or 4)")
        sub.add_argument("--unsafe", action="store_true",
                         help="load .keras files with Keras safe mode off (trusted files only)")
    for sub in (run, sweep, devices, estimate, doctor, optimize):
        sub.add_argument("--workspace", help="workspace folder (default: $WORKBENCH_WORKSPACE "
                                             "or ./.workbench)")
        sub.add_argument("--debug", action="store_true",
                         help="show tracebacks and the log lines of TensorFlow and LiteRT")
    return parser


def recipes_of(text: str) -> list:
    """The recipes of ``--recipes r1,r2``; every bad name is refused at once, before any work."""
    from workbench.errors import RecipeError
    from workbench.recipes import make_config

    recipes, problems = [], []
    for name in (part.strip() for part in text.split(",") if part.strip()):
        try:
            recipes.append(make_config(name))
        except RecipeError as error:
            problems.append(str(error))
    if problems:
        raise RecipeError(" ".join(problems))
    return recipes


def parse_settings(settings: list[str]) -> dict[str, str]:
    """``['a=1', 'b=x']`` -> ``{'a': '1', 'b': 'x'}``, with a clear error otherwise."""
    parsed = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise WorkbenchError(
                f"Received --set {item!r}; expected KEY=VALUE, e.g. integer_only=false.")
        if key.strip() in parsed:
            raise WorkbenchError(f"Received --set {key.strip()} twice ({parsed[key.strip()]!r} "
                                 f"and {value.strip()!r}); give each option once.")
        parsed[key.strip()] = value.strip()
    return parsed


def execute(args: argparse.Namespace) -> int:
    from workbench.pipeline import prepare_task, sweep
    from workbench.recipes import make_config
    from workbench.store import ExperimentStore

    if args.command == "devices":
        return list_devices(args.workspace)
    if args.command == "doctor":
        return run_doctor(args)
    if args.command == "estimate":
        return estimate_variant(args)
    if args.command == "optimize":
        return run_search(args)
    if args.command == "run":
        configs = [make_config(args.recipe, parse_settings(args.settings))]
    else:
        configs = recipes_of(args.recipes)
    if args.latency_runs < 1:
        raise WorkbenchError(f"Received --latency-runs {args.latency_runs}; expected at least 1.")
    check_output_folder(Path(args.out))
    store = ExperimentStore(args.workspace)
    task = prepare_task(args.model, workspace=store.workspace, **task_options(args))
    devices = None if args.devices is None else [
        name.strip() for name in args.devices.split(",") if name.strip()]
    result = sweep(task, configs, store, force=args.force, latency_runs=args.latency_runs,
                   devices=devices)
    frame = export_results(result.frame(), Path(args.out), task.name)
    print_summary(frame, Path(args.out))
    for recipe, message in result.failures.items():
        print(f"error: recipe {recipe} failed: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT if result.failures else 0


def run_search(args: argparse.Namespace) -> int:
    """``optimize``: the search, then results.csv, the .tflite files, choice.json and
    report.html in ``--out``; exit 0 when a variant meets the constraints, 3 when none does."""
    from workbench.pipeline import prepare_task
    from workbench.search.optimize import optimize, parse_duration
    from workbench.search.report import write_search_outputs
    from workbench.store import ExperimentStore

    limit = parse_duration(args.time_limit) if args.time_limit else None
    budgets = {name: value for name, value in (("size_kb", args.max_size_kb),
                                               ("ram_kb", args.max_ram_kb),
                                               ("latency_ms", args.max_latency_ms))
               if value is not None}
    out = Path(args.out)
    check_output_folder(out)
    store = ExperimentStore(args.workspace)
    task = prepare_task(args.model, workspace=store.workspace, **task_options(args))
    result = optimize(task, args.device, args.max_drop, budgets, args.trials, limit,
                      args.workers, args.scheduler, store)
    stored = store.results().set_index("run_id")["tflite_path"]
    paths = {run_id: stored[run_id] for run_id in dict.fromkeys(result.trials["run_id"])}
    choice = write_search_outputs(result, task.name, paths, out)
    print(result.trials.drop(columns=["run_id"]).to_string(
        index=False, float_format=lambda v: f"{v:.4g}"))
    print(result.reason)
    for miss in result.closest:
        print(f"closest: {miss['variant']}: {miss['misses']}")
    print(f"wrote {out / 'results.csv'}, {out / 'choice.json'} and {out / 'report.html'}")
    return 0 if choice["run_id"] else EXIT_NONE_MEETS


def task_options(args: argparse.Namespace) -> dict:
    """``prepare_task``'s arguments from the data, metric and model flags."""
    from workbench.npz import max_data_bytes

    size = None
    if args.input_size:
        try:
            size = tuple(int(part) for part in args.input_size.lower().split("x"))
        except ValueError:
            raise WorkbenchError(f"Received --input-size {args.input_size!r}; expected sizes "
                                 "joined by x, e.g. 96x96.") from None
    return {"data": args.data, "safe_mode": not args.unsafe, "metric": args.metric,
            "output": args.output, "input_size": size, "weights": args.weights,
            "label_column": args.label_column, "preprocessing": args.preprocessing,
            "validation_split": args.validation_split, "seed": args.seed,
            "max_bytes": max_data_bytes(args.max_data_gb)}


def check_output_folder(out: Path) -> None:
    """Refuse an ``--out`` that cannot become a writable folder, before any work is done."""
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"Received --out {out}, which is a file. Expected a folder (created "
                             "if missing): pass another --out.")
    existing = next(parent for parent in (out, *out.resolve().parents) if parent.exists())
    if not existing.is_dir():
        raise WorkbenchError(f"Received --out {out}, but '{existing}' is a file, so the folder "
                             "cannot be created. Expected a path under a folder: pass another "
                             "--out.")
    if not os.access(existing, os.W_OK):
        raise WorkbenchError(f"Received --out {out}, but '{existing}' is not writable. Expected "
                             "a writable place for the results: pass another --out.")


def run_doctor(args: argparse.Namespace) -> int:
    from workbench.doctor import repair, run_checks

    if args.repair:
        print(repair(args.workspace))
    checks = run_checks(args.workspace, browser_required=args.tests)
    for check in checks:
        print(check.line())
    failed = [check.name for check in checks if check.required and not check.ok]
    print(f"{len(failed)} problem(s): {', '.join(failed)}" if failed else "all good")
    return EXIT_FAILED if failed else 0


def list_devices(workspace) -> int:
    from workbench.devices import available_devices, load_profile
    from workbench.devices.profiles import profile_files

    files = profile_files(workspace)
    for name in available_devices(workspace):
        if name == "host":
            print(f"{'host':16} this machine, LiteRT at 1 thread (calibrated on first use)")
            continue
        try:
            profile = load_profile(name, workspace)
        except WorkbenchError as error:  # one broken file: named, the others still listed
            print(f"{name:16} left out: {error}")
            continue
        print(f"{name:16} {profile.description} [{', '.join(profile.supported_dtypes)}] "
              f"({files[name]})")
    return 0


def estimate_variant(args: argparse.Namespace) -> int:
    import json

    from workbench.devices import estimate_tflite

    if args.tflite:
        tflite = Path(args.tflite)
        if not tflite.is_file():
            raise WorkbenchError(f"Received --tflite {args.tflite}, which is not a file. "
                                 "Expected the path of a .tflite file.")
        tflite = tflite.read_bytes()
    else:
        tflite = convert_variant(args)
    estimate = estimate_tflite(tflite, args.device, args.workspace)
    if args.json:
        print(json.dumps(estimate.to_dict()))
        return 0
    latency = "cannot run" if estimate.latency_ms is None else f"{estimate.latency_ms:.3f} ms"
    print(f"{estimate.device}: {latency}, peak RAM {estimate.peak_ram_bytes:,} B, flash "
          f"{estimate.flash_bytes:,} B, fits: {'yes' if estimate.fits else 'no'}, on the "
          f"device: {estimate.accel_fraction:.0%} of MACs in {estimate.partitions} partition(s)")
    for op in estimate.fallback_ops:
        print(f"  falls back: op {op['index']} {op['op']}: {op['reason']}")
    for note in estimate.notes:
        print(f"  note: {note}")
    return 0


def convert_variant(args: argparse.Namespace) -> bytes:
    """The .tflite of ``--model`` with ``--recipe``, through the store (cached)."""
    from workbench.pipeline import prepare_task, run
    from workbench.recipes import make_config
    from workbench.store import ExperimentStore

    config = make_config(args.recipe, parse_settings(args.settings))
    store = ExperimentStore(args.workspace)
    task = prepare_task(args.model, workspace=store.workspace, progress=False,
                        **task_options(args))
    row = run(task, config, store, latency_runs=5, progress=False, devices=[])
    return Path(row["tflite_path"]).read_bytes()


def export_results(frame, out: Path, model_name: str):
    """Copy the artifacts into ``out`` and write results.csv and report.html there."""
    from workbench.report import write_report
    from workbench.store import RESULT_COLUMNS, device_columns_of

    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name)
    frame = frame.copy()
    for index, row in frame.iterrows():
        target = out / f"{slug}-{row['recipe']}-{row['run_id']}.tflite"
        shutil.copyfile(row["tflite_path"], target)
        frame.loc[index, "tflite_path"] = str(target)
    frame[[*RESULT_COLUMNS, *device_columns_of(frame.columns)]].to_csv(out / "results.csv",
                                                                       index=False)
    if len(frame):
        write_report(frame, out / "report.html", title=f"Optimization Workbench: {model_name}")
    return frame


def print_summary(frame, out: Path) -> None:
    columns = ["recipe", "size_bytes", "gzip_bytes", "metric", "score", "score_drop",
               "accuracy", "agreement", "latency_ms", "latency_ms_all_cores", "cached"]
    if len(frame):
        print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}",
                                        na_rep="n/a"))
        for _, row in frame[frame["notes"].fillna("") != ""].iterrows():
            print(f"note ({row['recipe']}): {row['notes']}")
        print(f"wrote {out / 'results.csv'} and {out / 'report.html'}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_silenced(enabled=not args.debug):
        return _execute_reporting_errors(args)


def _execute_reporting_errors(args: argparse.Namespace) -> int:
    try:
        with warnings.catch_warnings():
            if not args.debug:  # the converter's UserWarnings are noise on the command line
                warnings.simplefilter("ignore")
            return execute(args)
    except WorkbenchError as error:
        if args.debug:
            raise
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: finished variants are kept in the workspace", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the last line of defence for a one-line error
        if args.debug:
            raise
        print(f"error: unexpected {type(error).__name__}: {_one_line(error)} (rerun with "
              "--debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True):
    """Send what TensorFlow, absl and LiteRT print from C++ (file descriptor 2) to nowhere,
    while Python's own stderr (errors, progress bars) still reaches the terminal."""
    if not enabled or not _is_process_stderr(sys.stderr):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    sys.stderr = io.TextIOWrapper(io.FileIO(os.dup(saved), "w"), write_through=True)
    with open(os.devnull, "w") as nowhere:
        os.dup2(nowhere.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = python_stderr


def _is_process_stderr(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False  # replaced (a test's capture, a notebook): leave it alone
