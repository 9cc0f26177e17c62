"""Layer specs: one framework-neutral description of a network.

Everything in the course that reasons about a network (receptive-field
tables, parameter counts, the Assignment 3 grader, plots and widgets) reads a
:class:`Network`: a list of :class:`LayerSpec` in topological order, each
naming its inputs. This module is the public face of the layer specs; the work is
done by three modules with one job each:

* :mod:`course_utils.spec_core`: the specs, networks and shape inference;
* :mod:`course_utils.spec_lists`: the teaching-list parser;
* :mod:`course_utils.spec_keras`: the Keras walker and the few questions other modules
  ask about a Keras model (its layers for a transformation, a truncated copy, a layer
  inventory for the Assignment 3 rules): the ONE place that reads Keras layer objects;
  nothing else walks them (tests/test_package_structure.py enforces it).

A network is built from

* a plain list, for teaching (:func:`from_list`)::

      ["conv3", "conv3", "pool2", "conv3"]            # 3x3 convs, 2x2 max-pool
      ["conv3-32", "bn", "relu", "sep3-64", "gap", "dense-10"]
      [{"kind": "conv", "kernel": 3, "dilation": 2}, {"kind": "pool", "kernel": 2}]

  Tokens: ``<kind><k>[x<k2>][s<stride>][d<dilation>][p<pad>|same|valid][op<n>][-<filters>]``
  with kinds ``conv``, ``pool``/``maxpool``/``avgpool`` (stride defaults to the
  pool size), ``dw`` (depthwise), ``sep`` (separable), ``tconv`` (transposed),
  ``up`` (nearest up-sampling by ``k``; ``up2bilinear``), ``pad``/``crop``
  (``k`` pixels on every side) and the kernel-less ``bn``, ``relu``,
  ``dropout``, ``flatten``, ``gap`` / ``gmp`` (global pooling to 1x1) and
  ``dense-<units>`` (a classifier layer: it sees the whole input).
  Convolutions default to stride 1 and no padding (``"conv3"`` is 3x3,
  stride 1, ``p=0``), as in the course notes; ``-<filters>`` is needed only
  for parameter counts.

* any Keras model (:func:`from_keras`): Sequential or Functional, with
  branches and merges, shared layers and nested sub-models (inlined, their layers
  named ``outer/inner``). Layers this module does not know raise
  :class:`UnsupportedLayerError` naming the layer: an unknown layer could change
  the receptive field, so it is never passed over silently. Teach it a layer of
  your own with :func:`register_layer`.

:func:`as_network` accepts either (or a ready :class:`Network`).

Conventions: sizes are ``(height, width)`` pairs, tensors NHWC as in TensorFlow.
A spec's ``padding`` is ``"same"``, ``"valid"`` or explicit
``((top, bottom), (left, right))``; the padding TensorFlow really applies for
``"same"`` (which may be asymmetric) is worked out per input size by
:meth:`LayerSpec.padding_before`.
"""


from __future__ import annotations

from typing import Any

# The public names of the three modules (and, outside __all__, the kind sets, the size types
# and the registry of taught layers) are this module's.
from course_utils.spec_core import (  # noqa: F401
    GLOBAL_KINDS, HW, KINDS, WINDOW_KINDS, LayerSpec, Network, Pads, PaddingSpec, UnsupportedLayerError, WeightSpec,
    size_pair)
from course_utils.spec_keras import (  # noqa: F401
    _REGISTERED, KerasLayerInfo, from_keras, image_input_shape, is_keras_model, last_spatial_layer,
    layer_inventory, leaf_layers, moving_statistics, register_layer, top_layers, truncated)
from course_utils.spec_lists import from_list

__all__ = [
    "KINDS",
    "LayerSpec",
    "Network",
    "UnsupportedLayerError",
    "WeightSpec",
    "as_network",
    "from_keras",
    "from_list",
    "KerasLayerInfo",
    "image_input_shape",
    "is_keras_model",
    "last_spatial_layer",
    "layer_inventory",
    "leaf_layers",
    "moving_statistics",
    "register_layer",
    "size_pair",
    "top_layers",
    "truncated",
]


def as_network(
    model_or_layers: Any,
    input_size: int | tuple[int, int] | None = None,
    input_channels: int | None = None,
) -> Network:
    """A :class:`Network` from a Keras model, a teaching list, or a Network.

    This is the entry point the receptive-field and parameter tables, the
    grader and the plots share.
    """
    if isinstance(model_or_layers, Network):
        if input_size is None and input_channels is None:
            return model_or_layers
        if model_or_layers.is_chain():
            return from_list(model_or_layers.layers[1:], input_size, input_channels, model_or_layers.name)
        raise ValueError("input_size can only be changed for a chain network; build the network again instead")
    if isinstance(model_or_layers, (list, tuple)):
        return from_list(model_or_layers, input_size, input_channels)
    if is_keras_model(model_or_layers):
        return from_keras(model_or_layers, input_size)
    raise TypeError(
        f"expected a Keras model, a list such as ['conv3', 'pool2'] or a Network; got {type(model_or_layers).__name__}")
