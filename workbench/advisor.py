"""The quantization decision tree: from what the user has and needs, to the recipes to try.

Four questions (data, hardware, priority, acceptable accuracy drop), each answer with the one
sentence of consequence the wizard shows, and a recommendation: recipes in the order to try
them, the reason for each, and the device profiles to judge them on.

Example:
    >>> advice = recommend(data="unlabelled", hardware="edge_tpu", priority="latency",
    ...                    max_drop_points=1.0)
    >>> advice.recipes
    ['int8']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.compare import BASELINE_RECIPE
from workbench.errors import WorkbenchError
from workbench.metrics import SCORE_TOLERANCE

QUESTIONS = {
    "data": ("What data do you have?", {
        "none": "No data: only the recipes that need none, dynamic-range (CPU) and float16 "
                "(GPU); full-integer int8 needs a representative sample to calibrate ranges.",
        "unlabelled": "An unlabelled sample (100-500 inputs) calibrates activation ranges: "
                      "full-integer int8 and int16x8 become possible; training-based recipes "
                      "still need labels.",
        "labelled": "Labelled training data opens everything: quantization-aware training, "
                    "pruning and clustering fine-tune the model to keep its accuracy.",
    }),
    "hardware": ("Where must it run?", {
        "cpu": "A phone or desktop CPU runs every recipe; int8 is usually the fastest, float16 "
               "halves the size without speed-up.",
        "gpu": "A mobile GPU computes in float16: float16 keeps full speed at half the size; "
               "int8 models run too, dequantized, so int8 buys size, not speed.",
        "edge_tpu": "The Edge TPU runs only full-integer int8 models; from the first op it "
                    "cannot run, the rest of the graph falls back to the CPU.",
        "dsp": "A Hexagon DSP runs only 8-bit integer ops; float ops go back to the CPU, "
               "splitting the graph.",
        "microcontroller": "A microcontroller runs int8 only, with a few hundred KB of RAM and "
                           "a few MB of flash: size decides whether it runs at all.",
    }),
    "priority": ("What matters most?", {
        "size": "Size first: int8 is a quarter of float32; pruning and clustering add "
                "compression on top (gzip), collaborative recipes keep both through int8.",
        "latency": "Latency first: int8 on CPUs, DSPs and the Edge TPU; float16 on GPUs.",
        "accuracy": "Accuracy first: start from the gentlest recipe, and keep QAT or int16 "
                    "activations ready for when int8 loses too much.",
    }),
}
HARDWARE_DEVICES = {"cpu": ["phone_cpu_2019", "host"], "gpu": ["mobile_gpu"],
                    "edge_tpu": ["edge_tpu"], "dsp": ["hexagon_dsp"],
                    "microcontroller": ["cortex_m7"]}
HARDWARE_KINDS = {"cpu": "cpu", "gpu": "gpu", "edge_tpu": "edge_tpu", "dsp": "dsp",
                  "microcontroller": "mcu"}  # the profile ``kind`` of each answer
INTEGER_ONLY = ("edge_tpu", "dsp", "microcontroller")
TIGHT_DROP_POINTS = 1.0


@dataclass
class Advice:
    recipes: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # recipe -> why
    devices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, recipe: str, reason: str) -> None:
        if recipe not in self.recipes:
            self.recipes.append(recipe)
            self.reasons[recipe] = reason


def consequence(question: str, answer: str) -> str:
    """The sentence the wizard shows after ``answer`` to ``question``."""
    _check(question, answer)
    return QUESTIONS[question][1][answer]


def _check(question: str, answer) -> None:
    if question not in QUESTIONS:
        raise WorkbenchError(f"Unknown question '{question}'; expected one of "
                             f"{', '.join(QUESTIONS)}.")
    if answer not in QUESTIONS[question][1]:
        raise WorkbenchError(f"Received {question}={answer!r}; expected one of "
                             f"{', '.join(QUESTIONS[question][1])}.")


def hardware_devices(hardware: str, workspace=None) -> list[str]:
    """The devices a hardware answer is judged on: the workspace's own profiles of its kind
    first (whoever added a profile for their board means that board), then the built-in ones.
    A profile file that does not load is left out (the dashboard names it in a warning).

        >>> hardware_devices("microcontroller", "ws")   # with ws/devices/my_mcu.toml, an mcu
        ['my_mcu', 'cortex_m7']                          # doctest: +SKIP
    """
    from workbench.devices.profiles import load_profile, own_profile_names

    own = []
    for name in own_profile_names(workspace):
        try:
            if load_profile(name, workspace).kind == HARDWARE_KINDS[hardware]:
                own.append(name)
        except WorkbenchError:
            continue
    return own + [name for name in HARDWARE_DEVICES[hardware] if name not in own]


def recommend(data: str, hardware: str, priority: str, max_drop_points: float,
              workspace=None) -> Advice:
    """The recipes to run, in order, with a reason each (see ``QUESTIONS``), judged on
    ``hardware_devices(hardware, workspace)``."""
    for question, answer in (("data", data), ("hardware", hardware), ("priority", priority)):
        _check(question, answer)
    if not 0 <= max_drop_points <= 100:
        raise WorkbenchError(f"Received max_drop_points={max_drop_points}; expected a number of "
                             "accuracy points between 0 and 100.")
    advice = Advice(devices=hardware_devices(hardware, workspace))
    tight = max_drop_points < TIGHT_DROP_POINTS
    if data == "none":
        if hardware in INTEGER_ONLY:
            advice.warnings.append(
                f"{hardware} needs a full-integer model, and full-integer quantization needs a "
                "representative sample: collect 100-500 typical inputs (no labels needed).")
            return advice
        advice.add("float16" if hardware == "gpu" else "dynamic_range",
                   "needs no data; the starting point on this hardware")
        advice.add("float16", "needs no data; the smallest accuracy loss")
        return advice
    if hardware == "gpu":
        advice.add("float16", "runs at full speed on the GPU at half the size")
    advice.add("int8", "full-integer: the fastest on integer hardware and a quarter of the size"
               if hardware != "gpu" else "a quarter of the size (runs dequantized on the GPU)")
    if hardware == "cpu" and priority != "size":
        advice.add("dynamic_range", "no calibration; int8 weights, float activations")
    if tight or priority == "accuracy":
        if data == "labelled":
            advice.add("qat", "recovers what int8 loses by training with the rounding")
        if hardware not in INTEGER_ONLY:
            advice.add("int16x8", "int16 activations when the activations are what int8 hurts "
                                  "(slow reference kernels on CPU)")
    if priority == "size" and data == "labelled":
        advice.add("prune_cluster_qat" if hardware in INTEGER_ONLY else "prune_cluster",
                   "zeros and 16 shared values per kernel compress far better, kept through "
                   "int8 export" if hardware in INTEGER_ONLY else "zeros and 16 shared values "
                   "per kernel compress far better (gzip)")
    if priority == "latency" and hardware == "cpu" and data == "labelled":
        advice.add("prune", "sparse 1x1 kernels (XNNPACK) can turn 80% zeros into speed")
    return advice


@dataclass
class Verdict:
    """One measured variant judged against the target."""

    run_id: str
    recipe: str
    drop_points: float | None  # None: no accuracy (the model has no dataset)
    latency_ms: float | None  # on the device; None when it cannot run there
    fits: bool
    misses: list[str] = field(default_factory=list)  # why it does not meet the target
    unit: str = "points"  # of the drop: points of a fraction metric, else the metric's units

    @property
    def meets(self) -> bool:
        return not self.misses


@dataclass
class Assessment:
    """What the measured variants say: which meets the target, or what to try next."""

    verdicts: list[Verdict]
    chosen: Verdict | None
    sentence: str
    next_recipes: list[tuple[str, dict]] = field(default_factory=list)  # (recipe, options)
    next_reason: str = ""

    def next_step_words(self) -> str:
        """The next recipes as a user reads them: ``qat (epochs=6)``."""
        return ", ".join(name + (f" ({', '.join(f'{k}={v}' for k, v in options.items())})"
                                 if options else "") for name, options in self.next_recipes)


def assess(results, device: str, max_drop_points: float, data: str, hardware: str,
           priority: str) -> Assessment:
    """Judge the measured rows (``workbench.compare.with_deltas`` columns included) on
    ``device`` against ``max_drop_points``; name the best variant that meets it, or the next
    recipes to run (int16 activations or QAT when too much accuracy is lost, pruning or
    clustering when the model does not fit, full-integer int8 when it cannot run)."""
    whole_graph = hardware in INTEGER_ONLY  # the graph must run on the device, not beside it
    verdicts = [_verdict(row, device, max_drop_points, whole_graph)
                for _, row in results.iterrows()]
    if not verdicts:
        return Assessment([], None, "Nothing measured yet: run the recommended recipes.")
    passing = [v for v in verdicts if v.meets]
    if passing:
        chosen = min(passing, key=_ranking(priority, results))
        return Assessment(verdicts, chosen, _meets_sentence(chosen, device, max_drop_points))
    recipes, reason = _next_step(verdicts, results, data, hardware)
    baseline_last = sorted(verdicts, key=lambda v: v.recipe == BASELINE_RECIPE)
    missed = "; ".join(f"{v.recipe} {', '.join(v.misses)}" for v in baseline_last)
    return Assessment(verdicts, None, f"No variant meets the target yet: {missed}.", recipes,
                      reason)


def _verdict(row, device: str, max_drop_points: float, whole_graph: bool) -> Verdict:
    import math

    def number(name):
        value = row.get(name)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) \
            else float(value)

    drop = number("drop_points")
    latency = number(f"est_ms__{device}")
    fits = number(f"fits__{device}")
    from workbench.compare import row_metric

    metric = row_metric(row.get("metric"), row.get("higher_is_better"))
    verdict = Verdict(row["run_id"], row["recipe"], drop, latency, bool(fits),
                      unit=metric.unit if metric else "points")
    on_device = number(f"accel_fraction__{device}")
    if latency is None:
        verdict.misses.append(f"cannot run on {device}")
    elif whole_graph and on_device is not None and on_device < 0.999:
        verdict.misses.append(f"runs only {on_device:.0%} of its work on {device} (the rest "
                              "falls back to the CPU beside it)")
    elif not fits:
        verdict.misses.append(f"does not fit {device}'s memory")
    if drop is not None and drop > max_drop_points + SCORE_TOLERANCE:
        verdict.misses.append(f"loses {_amount(drop, verdict.unit)} (at most {max_drop_points:g} "
                              "allowed)")
    return verdict


def _ranking(priority: str, results):
    sizes = dict(zip(results["run_id"], results["gzip_bytes"]))

    def key(verdict: Verdict):
        size, latency = sizes.get(verdict.run_id, 0), verdict.latency_ms or 0.0
        drop = verdict.drop_points if verdict.drop_points is not None else 0.0
        return {"size": (size, latency), "latency": (latency, size),
                "accuracy": (drop, size)}[priority]

    return key


def _amount(drop: float, unit: str) -> str:
    """``0.5 points``, or ``1.27 MAE`` for a metric in its own units."""
    return f"{drop:.1f} points" if unit == "points" else f"{drop:.3g} {unit}"


def _meets_sentence(chosen: Verdict, device: str, max_drop_points: float) -> str:
    drop = chosen.drop_points
    accuracy = ("accuracy not measured (no dataset)" if drop is None else
                f"{_amount(-drop, chosen.unit)} gained" if drop <= -0.05 else
                f"{_amount(max(drop, 0.0), chosen.unit)} lost (at most {max_drop_points:g})")
    return (f"{chosen.recipe} meets the target: {accuracy}, {chosen.latency_ms:.3g} ms "
            f"estimated on {device}, and it fits the device's memory.")


MAX_QAT_EPOCHS = 24


def _next_step(verdicts: list[Verdict], results, data: str, hardware: str):
    """``([(recipe, options)], reason)`` for what to run after ``verdicts`` all missed."""
    import json

    tried = set(results["recipe"])
    too_lossy = any("points" in miss for v in verdicts for miss in v.misses)
    too_big = any("memory" in miss for v in verdicts for miss in v.misses)
    off_device = all(any("cannot run" in miss or "falls back" in miss for miss in v.misses)
                     for v in verdicts)
    if off_device and "int8" not in tried:
        return [("int8", {})], ("None of them runs on this device as a whole: it needs a "
                                "full-integer int8 model.")
    if too_lossy:
        options = []
        if hardware not in INTEGER_ONLY and "int16x8" not in tried:
            options.append(("int16x8", {}))
        if data == "labelled" and "qat" not in tried:
            options.append(("qat", {}))
        if options:
            return options, "Too much accuracy is lost: " + " ".join(
                {"int16x8": "int16 activations keep sensitive activations precise.",
                 "qat": "quantization-aware training learns weights that survive the rounding."}
                [name] for name, _ in options)
        if data == "labelled":
            qat = results[results["recipe"] == "qat"]
            epochs = max(json.loads(config or "{}").get("epochs", 3) for config in qat["config"])
            if epochs < MAX_QAT_EPOCHS:
                longer = min(2 * epochs, MAX_QAT_EPOCHS)
                return [("qat", {"epochs": longer})], (
                    f"QAT still loses too much after {epochs} epochs: train it longer "
                    f"({longer} epochs), or allow a larger drop.")
        else:
            return [], ("Too much accuracy is lost, and the training-free recipes are "
                        "exhausted: quantization-aware training needs labelled training data.")
    if too_big:
        recipe = "prune_cluster_qat" if hardware in INTEGER_ONLY else "prune_cluster"
        if data == "labelled" and recipe not in tried:
            return [(recipe, {})], ("The model does not fit: pruning and clustering, kept "
                                    "through int8, shrink the stored model (compressed); if the "
                                    "activations are what overflows RAM, a smaller architecture "
                                    "is needed.")
        return [], "The model does not fit, and no recipe left shrinks it: a smaller " \
                   "architecture (or a bigger device) is needed."
    return [], ("No recipe left to try for this target: allow a larger drop, or change the "
                "model or the device.")
