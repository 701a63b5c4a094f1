"""Built-in models: the digits CNN (``default``) and keras.applications builders.

``default`` is a small CNN with the layers real models have (Conv2D,
BatchNormalization, ReLU, DepthwiseConv2D, a residual Add, Dense), trained
deterministically on the digits task on first use and cached in the workspace.
The other names build ``keras.applications`` networks with ``weights=None``
(random weights: for size and latency studies, no accuracy); a name may carry
an input size, e.g. ``mobilenet_v1:128``.

Example:
    >>> parse_zoo_name("mobilenet_v1:128")
    ('mobilenet_v1', 128)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.progress import epoch_callback

DEFAULT_MODEL = "default"
# The default model with one activation channel 1000x larger (and divided back after): the
# same float function, but int8 post-training quantization loses about 24 points on it. The
# teaching case for per-layer error, int16 activations and QAT.
OUTLIER_MODEL = "digits_outlier"
DIGITS_MODELS = (DEFAULT_MODEL, OUTLIER_MODEL)  # the models that come with the digits task
DEFAULT_MODEL_VERSION = 1
DEFAULT_TRAINING_EPOCHS = 20

# zoo name -> (keras.applications builder, default input size)
APPLICATIONS = {
    "mobilenet_v1": ("MobileNet", 224),
    "mobilenet_v2": ("MobileNetV2", 224),
    "resnet50": ("ResNet50", 224),
    "inception_v3": ("InceptionV3", 299),
    "resnet101_v2": ("ResNet101V2", 224),
    "efficientnet_b0": ("EfficientNetB0", 224),
}


class ZooError(WorkbenchError):
    """An unknown zoo name or an input size the architecture cannot take."""


def zoo_names() -> list[str]:
    """All names ``build_zoo_model`` and the CLI accept."""
    return [*DIGITS_MODELS, *APPLICATIONS]


def parse_zoo_name(name: str) -> tuple[str, int | None]:
    """Split ``'mobilenet_v1:128'`` into ``('mobilenet_v1', 128)``; check the name."""
    base, _, size_text = name.partition(":")
    if base not in zoo_names():
        raise ZooError(
            f"Unknown zoo model '{base}'. Expected one of: {', '.join(zoo_names())} "
            "(optionally with an input size, e.g. mobilenet_v1:128), or a model file path."
        )
    if not size_text:
        return base, None
    if base in DIGITS_MODELS:
        raise ZooError(
            f"Received '{name}': the digits models have a fixed 8x8 input; drop ':{size_text}'."
        )
    if not size_text.isdigit() or int(size_text) < 32:
        raise ZooError(
            f"Received input size '{size_text}' in '{name}'. Expected a whole number of pixels "
            "of at least 32, e.g. mobilenet_v1:128."
        )
    return base, int(size_text)


def is_zoo_name(name: str) -> bool:
    return name.partition(":")[0] in zoo_names()


def build_zoo_model(name: str):
    """Build a keras.applications network with random weights (``weights=None``)."""
    import keras

    base, size = parse_zoo_name(name)
    if base in DIGITS_MODELS:
        return build_default_model()
    builder_name, default_size = APPLICATIONS[base]
    size = size or default_size
    builder = getattr(keras.applications, builder_name)
    try:
        return builder(weights=None, input_shape=(size, size, 3), classes=1000)
    except ValueError as error:
        raise ZooError(
            f"{builder_name} cannot take a {size}x{size} input: {str(error).splitlines()[0]}"
        ) from None


def build_default_model(keras_module=None):
    """The untrained digits CNN (86k parameters, 8x8x1 input, 10 logits).

    ``keras_module`` defaults to Keras 3; the tfmot comparison passes ``tf_keras`` so that both
    frameworks train the very same architecture.
    """
    if keras_module is None:
        import keras as keras_module
    keras = keras_module
    layers = keras_module.layers

    inputs = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(32, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    shortcut = layers.ReLU(name="stem_relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="block_dw")(shortcut)
    x = layers.BatchNormalization(name="block_dw_bn")(x)
    x = layers.ReLU(name="block_dw_relu")(x)
    x = layers.Conv2D(32, 1, use_bias=False, name="block_pw")(x)
    x = layers.BatchNormalization(name="block_pw_bn")(x)
    x = layers.Add(name="block_add")([x, shortcut])
    x = layers.ReLU(name="block_relu")(x)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="down_conv")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="fc")(x)
    outputs = layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def train_default_model(dataset, epochs: int = DEFAULT_TRAINING_EPOCHS, progress: bool = True,
                        seed: int = 0):
    """Train the digits CNN deterministically (``seed``) on ``dataset``."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_default_model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    callback = epoch_callback(epochs, "training the default model", enabled=progress)
    model.fit(
        dataset.x_train, dataset.y_train, epochs=epochs, batch_size=32, verbose=0,
        callbacks=[callback],
    )
    return model


def outlier_model(workspace: str | Path | None = None, progress: bool = True):
    """The trained default model with an outlier activation channel (see ``OUTLIER_MODEL``)."""
    from workbench.quant_debug import with_outlier_channel

    return with_outlier_channel(default_model(workspace, progress), "block_dw_bn", "block_pw",
                                factor=1000)


def default_model(workspace: str | Path | None = None, progress: bool = True):
    """The trained default model, cached as ``<workspace>/models/default-v1.keras``.

    A cached file that cannot be loaded (truncated, damaged) is trained again and replaced;
    a workspace that cannot be written still gets the model, uncached.
    """
    import keras

    from workbench.data import load_digits_task
    from workbench.workspace import resolve_workspace

    path = resolve_workspace(workspace) / "models" / f"default-v{DEFAULT_MODEL_VERSION}.keras"
    if path.is_file():
        try:
            return keras.saving.load_model(path)
        except Exception:  # noqa: BLE001 - any damage: the model is rebuilt from its recipe
            pass
    model = train_default_model(load_digits_task(), progress=progress)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.keras")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(partial)
        partial.replace(path)  # atomic: a crash never leaves a half-written cache
    except Exception:  # noqa: BLE001 - a cache that cannot be written is only a slower start
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return model
