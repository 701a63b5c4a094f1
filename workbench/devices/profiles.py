"""Device profiles: what a device runs, how fast, and in how much memory; one TOML file each.

The built-in profiles live in ``workbench/devices/profiles/``; users add their own as
``<workspace>/devices/<name>.toml`` (or pass a path). Every number in a built-in file carries
its source or reasoning in a comment. A malformed file fails with the field named.

Example:
    >>> profile = load_profile("phone_cpu_2017")
    >>> profile.threads
    1
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from workbench.devices.graph import OP_CLASSES
from workbench.errors import WorkbenchError

BUILTIN_FOLDER = Path(__file__).parent / "profiles"
DTYPES = ("float32", "float16", "dynamic_range", "int8", "int16x8")
KINDS = ("cpu", "gpu", "edge_tpu", "dsp", "mcu")
RATE_CLASSES = (*OP_CLASSES, "unknown")
RATE_FALLBACKS = {"reduce": "pool"}  # reductions were rated as pooling before they had a class


@dataclass(frozen=True)
class SparseRule:
    """A sparse-kernel path (XNNPACK's): which op classes, from what sparsity, how much faster."""

    op_classes: tuple[str, ...] = ()
    pointwise_only: bool = True
    min_sparsity: float = 1.0
    max_speedup: float = 1.0


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    kind: str
    threads: int
    throughput: dict[str, dict[str, float]]  # dtype -> op class -> G MAC/s (G elements/s)
    memory_bandwidth_gb_s: float
    op_overhead_us: float
    invoke_overhead_us: float
    ram_bytes: int
    flash_bytes: int
    supported_ops: tuple[str, ...] | None = None  # None: every builtin op
    fallback: str = ""  # the profile that runs what this device cannot ("" : nothing does)
    single_partition: bool = False  # Edge TPU: from the first unsupported op on, the CPU runs it
    partition_overhead_us: float = 0.0
    weight_cache_bytes: int = 0  # on-chip weight memory (Edge TPU); 0: no limit modelled
    offchip_bandwidth_gb_s: float = 0.0  # weights beyond the cache stream at this rate
    sparse: SparseRule = field(default_factory=SparseRule)
    runs_as: dict[str, str] = field(default_factory=dict)  # GPU: int8 -> float16 (dequantized)
    # GEMM efficiency: a conv / FC with reduction depth K (kh*kw*in) runs at K / (K + this) of
    # its class rate (packing and loads per output are amortised over K). 0: no such loss.
    gemm_half_depth: float = 0.0
    # Hybrid (dynamic-range) kernels quantize their float input on the fly at this rate.
    dynamic_quantize_g_elements_s: float = 0.0
    source: str = ""

    @property
    def supported_dtypes(self) -> tuple[str, ...]:
        return (*self.throughput, *self.runs_as)

    def rate(self, dtype: str, op_class: str) -> float:
        """G MAC/s for ``op_class`` in ``dtype``: a 'reduce' not listed takes the 'pool' rate,
        other classes not listed the 'unknown' rate."""
        rates = self.throughput[self.runs_as.get(dtype, dtype)]
        if op_class not in rates and op_class in RATE_FALLBACKS:
            op_class = RATE_FALLBACKS[op_class]
        return rates.get(op_class, rates["unknown"])


def _require(table: dict, key: str, kind, where: str, positive: bool = True):
    if key not in table:
        raise WorkbenchError(f"Device profile {where} has no field '{key}'. Expected a "
                             f"{kind.__name__} there: add it (see the built-in profiles).")
    return _checked(table[key], key, kind, where, positive)


def _optional(table: dict, key: str, kind, where: str, default):
    """An optional number: finite and non-negative (0 means 'not modelled')."""
    return _checked(table.get(key, default), key, kind, where, positive=False)


def _checked(value, key: str, kind, where: str, positive: bool):
    """``value`` as ``kind``; numbers must be finite and positive (or non-negative)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise WorkbenchError(f"Device profile {where}: field '{key}' must be a "
                             f"{kind.__name__}, received {value!r}. Expected a {kind.__name__}: "
                             "fix the value in the profile file.")
    if kind in (int, float) and not (math.isfinite(value) and (value > 0 if positive
                                                               else value >= 0)):
        wanted = "a finite number above 0" if positive else "a finite number, 0 or more"
        raise WorkbenchError(f"Device profile {where}: field '{key}' received {value!r}. "
                             f"Expected {wanted}: fix the value in the profile file.")
    return value


def profile_from_dict(table: dict, where: str) -> DeviceProfile:
    """Validate a parsed profile table; ``where`` names the file in error messages."""
    kind = _require(table, "kind", str, where)
    if kind not in KINDS:
        raise WorkbenchError(f"Device profile {where}: field 'kind' must be one of {KINDS}, "
                             f"received {kind!r}.")
    throughput = _require(table, "throughput", dict, where)
    for dtype, rates in throughput.items():
        if dtype not in DTYPES or not isinstance(rates, dict):
            raise WorkbenchError(f"Device profile {where}: unknown dtype table "
                                 f"'throughput.{dtype}'; expected some of {DTYPES}.")
        _require(rates, "unknown", float, f"{where} [throughput.{dtype}]")
        for op_class, rate in rates.items():
            if op_class not in RATE_CLASSES:
                raise WorkbenchError(f"Device profile {where}: 'throughput.{dtype}.{op_class}' "
                                     f"is not an op class; expected one of {RATE_CLASSES}.")
            _checked(rate, f"throughput.{dtype}.{op_class}", float, where, positive=True)
    sparse = _checked(table.get("sparse", {}), "sparse", dict, where, positive=False)
    ops = table.get("supported_ops", "all")
    if ops != "all" and not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
        raise WorkbenchError(f"Device profile {where}: field 'supported_ops' must be \"all\" "
                             f"or a list of op names, received {ops!r}.")
    runs_as = _checked(table.get("runs_as", {}), "runs_as", dict, where, positive=False)
    for dtype, target in runs_as.items():
        if target not in throughput:
            raise WorkbenchError(f"Device profile {where}: 'runs_as.{dtype}' = {target!r} has "
                                 "no [throughput] table of its own.")
    return DeviceProfile(
        name=_require(table, "name", str, where),
        description=_require(table, "description", str, where), kind=kind,
        threads=_require(table, "threads", int, where),
        throughput={d: {c: float(r) for c, r in rates.items()} for d, rates in throughput.items()},
        memory_bandwidth_gb_s=_require(table, "memory_bandwidth_gb_s", float, where),
        op_overhead_us=_require(table, "op_overhead_us", float, where, positive=False),
        invoke_overhead_us=_require(table, "invoke_overhead_us", float, where, positive=False),
        ram_bytes=_require(table, "ram_bytes", int, where),
        flash_bytes=_require(table, "flash_bytes", int, where),
        supported_ops=None if ops == "all" else tuple(ops),
        fallback=table.get("fallback", ""), single_partition=table.get("single_partition", False),
        partition_overhead_us=_optional(table, "partition_overhead_us", float, where, 0.0),
        weight_cache_bytes=_optional(table, "weight_cache_bytes", int, where, 0),
        offchip_bandwidth_gb_s=_optional(table, "offchip_bandwidth_gb_s", float, where, 0.0),
        sparse=SparseRule(tuple(sparse.get("op_classes", ())),
                          bool(sparse.get("pointwise_only", True)),
                          _optional(sparse, "min_sparsity", float, f"{where} [sparse]", 1.0),
                          _optional(sparse, "max_speedup", float, f"{where} [sparse]", 1.0)),
        runs_as=dict(runs_as),
        gemm_half_depth=_optional(table, "gemm_half_depth", float, where, 0.0),
        dynamic_quantize_g_elements_s=_optional(table, "dynamic_quantize_g_elements_s", float,
                                                where, 0.0),
        source=str(where))


def read_profile_file(path: str | Path) -> DeviceProfile:
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise WorkbenchError(f"Device profile '{path}' is not valid TOML ({error}). Expected a "
                             "TOML file like the built-in profiles.") from None
    except OSError as error:
        raise WorkbenchError(f"Cannot read the device profile '{path}': {error.strerror or error}"
                             ". Expected a readable .toml file.") from None
    return profile_from_dict(table, f"'{path}'")


def own_profile_names(workspace=None) -> list[str]:
    """The names of the workspace's own profiles (``<workspace>/devices/*.toml``)."""
    return [name for name, path in profile_files(workspace).items()
            if path.parent != BUILTIN_FOLDER]


def profile_files(workspace=None) -> dict[str, Path]:
    """``{name: file}`` for the built-in profiles and the workspace's own (which win)."""
    from workbench.workspace import resolve_workspace

    files = {path.stem: path for path in sorted(BUILTIN_FOLDER.glob("*.toml"))}
    user = resolve_workspace(workspace) / "devices"
    files.update({path.stem: path for path in sorted(user.glob("*.toml"))})
    return files


def available_devices(workspace=None) -> list[str]:
    return ["host", *sorted(name for name in profile_files(workspace) if name != "host")]


def usable_devices(workspace=None) -> tuple[list[str], list[str]]:
    """The devices whose profiles load (``host`` always: it is calibrated when first used), and
    one message per profile file that does not, so one broken file leaves the others usable.

        >>> names, problems = usable_devices("ws")                     # doctest: +SKIP
    """
    names, problems = [], []
    for name in available_devices(workspace):
        try:
            if name != "host":
                load_profile(name, workspace)
        except WorkbenchError as error:
            problems.append(f"{error} Its estimates are left out until the file is fixed.")
            continue
        names.append(name)
    return names, problems


def load_profile(name_or_path, workspace=None) -> DeviceProfile:
    """A profile by name (built-in, the workspace's, or ``host``) or from a ``.toml`` path."""
    if str(name_or_path).endswith(".toml"):
        return read_profile_file(name_or_path)
    if name_or_path == "host":
        from workbench.devices.host import host_profile

        return host_profile(workspace)
    files = profile_files(workspace)
    if name_or_path not in files:
        raise WorkbenchError(f"Unknown device '{name_or_path}'. Available: "
                             f"{', '.join(available_devices(workspace))}, or a path to a .toml "
                             "profile.")
    profile = read_profile_file(files[name_or_path])
    if profile.name != name_or_path:
        raise WorkbenchError(
            f"Device profile '{files[name_or_path]}' is named {profile.name!r} inside but "
            f"listed by its file name, {name_or_path!r}. Expected name = \"{name_or_path}\": "
            "set it in the file.")
    return profile
