"""Inline nested models: one flat functional graph whose layers are copies of the originals.

A transform that swaps layers one by one (QAT) sees every layer of the model at
one level. Each layer is copied once (shared layers stay shared), with its
weights; the original model is left untouched. Layer names are kept, so they
must be unique across the nesting levels.

Example:
    >>> flat, inlined = inline_nested_models(model)                    # doctest: +SKIP
    >>> inlined                                                        # doctest: +SKIP
    ['backbone']
"""

from __future__ import annotations

import keras

from workbench.errors import WorkbenchError


def _is_nested_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def inline_nested_models(model):
    """``(flat model, names of the inlined sub-models)``; ``model`` itself when none is nested."""
    if not any(_is_nested_model(layer) for layer in model.layers):
        return model, []
    copies, inlined = {}, []

    def copy_of(layer):
        if id(layer) not in copies:
            copies[id(layer)] = (layer, type(layer).from_config(layer.get_config()))
        return copies[id(layer)][1]

    def runner(operation):
        if _is_nested_model(operation):
            inlined.append(operation.name)
            return lambda inputs, *args, **kwargs: run(operation, inputs)
        return copy_of(operation)

    def run(graph, inputs):
        if isinstance(graph, keras.Sequential):
            outputs = inputs
            for layer in graph.layers:
                outputs = runner(layer)(outputs)
            return outputs
        return graph._run_through_graph(inputs, operation_fn=runner)

    inputs = [keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype,
                          name=tensor._keras_history.operation.name)
              for tensor in model.inputs]
    outputs = run(model, inputs if len(inputs) > 1 else inputs[0])
    _check_unique_names([copy.name for _, copy in copies.values()], inlined)
    flat = keras.Model(inputs, outputs, name=model.name)
    for original, copy in copies.values():
        copy.set_weights(original.get_weights())
    return flat, inlined


def _check_unique_names(names, inlined) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise WorkbenchError(
                f"Layer name '{name}' is used both inside the nested model(s) "
                f"{', '.join(repr(name) for name in inlined)} and elsewhere; inlining them needs "
                "unique names. Rename one of the layers (name='...') and try again."
            )
        seen.add(name)
