r"""The classifier of :func:`course_utils.models.context_classifier` in numpy, and its training loop.

Notebook 03 trains this twin with the correct and with a broken backward pass of the dilated
convolution, and compares its gradients with TensorFlow's automatic differentiation (the
weights copy into the Keras model with :meth:`NumpyContextNet.to_keras`).

* :class:`NumpyContextNet`: front-end conv, the context module, dense head, softmax
  cross-entropy, built from :mod:`course_utils.ops`;
* :func:`train_numpy`: Adam with Keras' defaults on shuffled mini-batches (the Keras models
  train with :func:`course_utils.training.fit`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from course_utils.models import CONTEXT_DILATIONS, CONTEXT_KERNELS, INITS, context_classifier, identity_kernel

__all__ = ["NumpyContextNet", "train_numpy"]


class NumpyContextNet:
    """The classifier of :func:`context_classifier` in numpy, trained with a chosen conv backward pass.

    Same layers, weight layout and initialisation choices as the Keras model
    (``to_keras()`` copies the weights into one, to compare with autodiff), built
    from :mod:`course_utils.ops`: ``conv2d_forward`` with ``padding="same"`` and
    the layer's dilation, ReLU, Flatten, dense, softmax cross-entropy.
    ``params`` maps ``front_end``, ``ctx1`` ... ``ctx8``, ``logits`` to ``[kernel, bias]``.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, channels: int = 4,
                 init: str = "identity", seed: int = 0, dtype: str = "float32"):
        rng = np.random.default_rng(seed)
        h, w, c_in = input_shape
        self.input_shape, self.num_classes, self.channels = tuple(input_shape), num_classes, channels

        def glorot(shape, fan_in, fan_out):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, shape)

        def bias(n):
            return np.zeros(n)

        self.params: dict[str, list[np.ndarray]] = {
            "front_end": [glorot((3, 3, c_in, channels), 9 * c_in, 9 * channels), bias(channels)]}
        for i, (k, d) in enumerate(zip(CONTEXT_KERNELS, CONTEXT_DILATIONS), start=1):
            if init == "identity":
                kernel = identity_kernel(k, k, channels, channels)
            elif init == "random_normal":
                kernel = rng.normal(0.0, 0.05, (k, k, channels, channels))
            elif init == "he_normal":
                kernel = rng.normal(0.0, np.sqrt(2.0 / (k * k * channels)), (k, k, channels, channels))
            else:
                raise ValueError(f"init must be one of {', '.join(INITS)}; got {init!r}")
            self.params[f"ctx{i}"] = [kernel, bias(channels)]
        flat = h * w * channels
        self.params["logits"] = [glorot((flat, num_classes), flat, num_classes), bias(num_classes)]
        self.params = {name: [np.asarray(p, dtype=dtype) for p in ps] for name, ps in self.params.items()}

    @property
    def conv_layers(self) -> list[tuple[str, int]]:
        """``(name, dilation)`` of the convolutions, in order."""
        return [("front_end", 1)] + [(f"ctx{i}", d) for i, d in enumerate(CONTEXT_DILATIONS, start=1)]

    def forward(self, x: np.ndarray):
        """Logits and the caches the backward pass needs."""
        from course_utils import ops

        caches = []
        h = x
        for name, d in self.conv_layers:
            h, conv_cache = ops.conv2d_forward(h, *self.params[name], padding="same", dilation=d)
            relu_cache = None
            if name != "ctx8":  # every layer but the last 1x1 is truncated by a ReLU
                h, relu_cache = ops.relu_forward(h)
            caches.append((conv_cache, relu_cache))
        logits, dense_cache = ops.dense_forward(h.reshape(len(h), -1), *self.params["logits"])
        return logits, (caches, dense_cache, h.shape)

    def predict(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted classes, in batches."""
        return np.concatenate([self.forward(x[i:i + batch_size])[0].argmax(axis=1)
                               for i in range(0, len(x), batch_size)])

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, conv_backward=None):
        """Mean cross-entropy on ``(x, y)`` and its gradient for every parameter.

        ``conv_backward(dout, cache) -> (dx, dw, db)`` is the backward pass used
        for every convolution (default :func:`course_utils.ops.conv2d_backward`);
        pass :func:`course_utils.ops.dilated_conv2d_backward_broken` to train with the bug.
        """
        from course_utils import ops

        conv_backward = conv_backward or ops.conv2d_backward
        logits, (caches, dense_cache, shape) = self.forward(x)
        loss, dlogits = ops.softmax_cross_entropy(logits, y)
        grads: dict[str, list[np.ndarray]] = {}
        dflat, dw, db = ops.dense_backward(dlogits, dense_cache)
        grads["logits"] = [dw, db]
        dh = dflat.reshape(shape)
        for (name, _), (conv_cache, relu_cache) in zip(reversed(self.conv_layers), reversed(caches)):
            if relu_cache is not None:
                dh = ops.relu_backward(dh, relu_cache)
            dh, dw, db = conv_backward(dh, conv_cache)
            grads[name] = [dw, db]
        return loss, grads

    def keras_weights(self) -> list[np.ndarray]:
        """The weights in the order of ``context_classifier(...).get_weights()``."""
        names = ["front_end"] + [f"ctx{i}" for i in range(1, 9)] + ["logits"]
        return [p for name in names for p in self.params[name]]

    def to_keras(self):
        """A :func:`context_classifier` holding these weights (for comparing with autodiff)."""
        model = context_classifier(self.input_shape, self.num_classes, channels=self.channels)
        model.set_weights(self.keras_weights())
        return model


def train_numpy(net: NumpyContextNet, x: np.ndarray, y: np.ndarray, epochs: int = 1, batch_size: int = 64,
                conv_backward=None, learning_rate: float = 1e-3, seed: int = 0) -> list[float]:
    """Train ``net`` in place with Adam (Keras' defaults) on shuffled mini-batches; returns the step losses."""
    rng = np.random.default_rng(seed)
    beta1, beta2, eps = 0.9, 0.999, 1e-7
    moments = {name: [(np.zeros_like(p), np.zeros_like(p)) for p in ps] for name, ps in net.params.items()}
    losses, step = [], 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            loss, grads = net.loss_and_grads(x[batch], y[batch], conv_backward)
            losses.append(loss)
            step += 1
            rate = learning_rate * np.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
            for name, params in net.params.items():
                for k, (p, g) in enumerate(zip(params, grads[name])):
                    m, v = moments[name][k]
                    m += (1 - beta1) * (g - m)
                    v += (1 - beta2) * (g * g - v)
                    p -= (rate * m / (np.sqrt(v) + eps)).astype(p.dtype)
    return losses
