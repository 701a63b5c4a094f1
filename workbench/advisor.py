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

from workbench.errors import WorkbenchError

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


def recommend(data: str, hardware: str, priority: str, max_drop_points: float) -> Advice:
    """The recipes to run, in order, with a reason each (see ``QUESTIONS``)."""
    for question, answer in (("data", data), ("hardware", hardware), ("priority", priority)):
        _check(question, answer)
    if not 0 <= max_drop_points <= 100:
        raise WorkbenchError(f"Received max_drop_points={max_drop_points}; expected a number of "
                             "accuracy points between 0 and 100.")
    advice = Advice(devices=list(HARDWARE_DEVICES[hardware]))
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
