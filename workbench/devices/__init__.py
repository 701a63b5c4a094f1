"""Device profiles and estimates: latency, memory and compatibility of a ``.tflite`` per device.

Example:
    >>> from workbench.devices import available_devices, estimate_tflite
    >>> estimate_tflite(tflite_bytes, "cortex_m7").fits                 # doctest: +SKIP
    True
"""

from workbench.devices.estimate import Estimate, estimate_tflite
from workbench.devices.graph import GraphCost, OpCost, analyze_tflite, plan_arena
from workbench.devices.profiles import DeviceProfile, available_devices, load_profile

__all__ = ["DeviceProfile", "Estimate", "GraphCost", "OpCost", "analyze_tflite",
           "available_devices", "estimate_tflite", "load_profile", "plan_arena"]
