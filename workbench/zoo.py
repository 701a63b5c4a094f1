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


# The file keras.applications keeps ImageNet weights in (classifier head included), by zoo name;
# '{size}' is the input size for the families published at several sizes.
IMAGENET_FILES = {
    "mobilenet_v1": "mobilenet_1_0_{size}_tf.h5",
    "mobilenet_v2": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    "inception_v3": "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    "resnet101_v2": "resnet101v2_weights_tf_dim_ordering_tf_kernels.h5",
    "efficientnet_b0": "efficientnetb0.h5",
}
WEIGHT_TAGS = ("imagenet",)


def keras_cache_folder() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "models"


def split_weights_tag(name: str) -> tuple[str, str | None]:
    """``'mobilenet_v2:224:imagenet'`` -> ``('mobilenet_v2:224', 'imagenet')``."""
    parts = name.split(":")
    if len(parts) > 1 and not parts[-1].isdigit():
        if parts[-1] not in WEIGHT_TAGS:
            raise ZooError(f"Received weights '{parts[-1]}' in '{name}'. Expected "
                           f"{' or '.join(WEIGHT_TAGS)} (e.g. mobilenet_v2:224:imagenet), or "
                           "a weights file with --weights PATH.")
        return ":".join(parts[:-1]), parts[-1]
    return name, None


def weights_file(name: str, weights: str | os.PathLike | None) -> Path | None:
    """The weights file a zoo name asks for: ``weights`` when given, else the Keras cache's
    ImageNet file for ``...:imagenet``; a ``ZooError`` saying which file to place where when
    it is missing (nothing is ever downloaded)."""
    base_name, tag = split_weights_tag(name)
    base, size = parse_zoo_name(base_name)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise ZooError(f"No weights file at '{path}'. Expected a .h5 or .weights.h5 file "
                           f"of {base} (saved with model.save_weights).")
        return path
    if tag is None:
        return None
    size = size or APPLICATIONS[base][1]
    expected = keras_cache_folder() / IMAGENET_FILES[base].format(size=size)
    if not expected.is_file():
        raise ZooError(
            f"No ImageNet weights for '{name}' on this machine, and the workbench never "
            f"downloads. Place the file {expected.name} in {expected.parent}/ (the Keras "
            "cache; copy it from a machine where keras.applications downloaded it), or pass "
            "--weights PATH (weights= in Python).")
    return expected


def build_zoo_model(name: str, weights: str | os.PathLike | None = None):
    """Build a keras.applications network: random weights (``weights=None``), or a weights
    file (``weights_file``: ``...:imagenet`` from the Keras cache, or ``weights``)."""
    import keras

    path = weights_file(name, weights)
    base, size = parse_zoo_name(split_weights_tag(name)[0])
    if base in DIGITS_MODELS:
        return build_default_model()
    builder_name, default_size = APPLICATIONS[base]
    size = size or default_size
    builder = getattr(keras.applications, builder_name)
    try:
        model = builder(weights=None, input_shape=(size, size, 3), classes=1000)
    except ValueError as error:
        raise ZooError(
            f"{builder_name} cannot take a {size}x{size} input: {str(error).splitlines()[0]}"
        ) from None
    if path is not None:
        try:
            model.load_weights(path)
        except Exception as error:  # noqa: BLE001 - h5py, shape and format errors alike
            raise ZooError(f"The weights in '{path}' do not fit {builder_name} at {size}x{size} "
                           f"({type(error).__name__}: {str(error).splitlines()[0][:200]}). "
                           "Expected weights saved from this architecture and input size.") \
                from None
    return model


def with_batch_norm_statistics(model, samples):
    """``model`` (changed in place) with each BatchNormalization's moving mean and variance
    set to those its input has on ``samples``, and returned.

    A deep network with random weights and the default statistics (mean 0, variance 1) shrinks
    or grows its activations layer after layer until the logits are all alike; int8 then has
    nothing to quantize (MobileNet v1 at 96 reached a softmax input scale of 8e-9). With the
    statistics of real or synthetic inputs, a random network's int8 export exercises every
    kernel the way a trained one does.

    Example:
        >>> model = build_zoo_model("mobilenet_v2:96")                    # doctest: +SKIP
        >>> model = with_batch_norm_statistics(model, x)                  # doctest: +SKIP
    """
    import keras
    import numpy as np

    from workbench.layer_selection import walk_layers

    norms = [layer for _, layer in walk_layers(model)
             if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0  # the moving statistics become this batch's
    model(np.asarray(samples, np.float32), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    return model


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
