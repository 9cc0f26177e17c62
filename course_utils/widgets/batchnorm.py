"""Explorer of notebook 06: batch normalisation of one channel, in training and at inference.

A mini-batch of one channel is drawn from a normal distribution whose ``mean`` and
``scale`` (standard deviation) are sliders; :func:`course_utils.ops.batchnorm_forward`
normalises it and applies ``gamma`` and ``beta``. In ``training`` mode the batch's own
statistics are used; in ``inference`` mode the moving statistics, which start at Keras'
initial values (mean 0, variance 1) and are updated with ``momentum`` over ``steps``
training batches of the same distribution. The figure shows the histograms before and
after; ``.summary`` the statistics.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_utils.ops import batchnorm_forward
from course_utils.plots.batchnorm import plot_bn_histograms
from course_utils.widgets.separable import _pre
from course_utils.widgets._explorer import mark_explorer, show_figure

__all__ = ["BatchNormExplorer", "batchnorm_explorer"]

TRAINING, INFERENCE = "training", "inference"
EPSILON = 1e-3  # Keras' default


class BatchNormExplorer(widgets.VBox):
    """Controls: ``mean``, ``scale``, ``gamma``, ``beta``, ``batch_size``, ``mode``, ``steps``, ``momentum``.

    ``summary`` (an ``HTML`` widget) holds the batch and moving statistics and the
    mean and standard deviation of the output; ``stats`` the same numbers as a dict;
    ``output`` the histograms.
    """

    def __init__(self, mean: float = 5.0, scale: float = 3.0, gamma: float = 1.0, beta: float = 0.0,
                 batch_size: int = 128, mode: str = TRAINING, steps: int = 20, momentum: float = 0.99,
                 seed: int = 0):
        style = {"description_width": "120px"}

        def fslider(value, low, high, step, description):
            return widgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                                       style=style, continuous_update=False)

        self.seed = seed
        self.mean = fslider(mean, -10.0, 10.0, 0.5, "input mean")
        self.scale = fslider(scale, 0.1, 10.0, 0.1, "input std")
        self.gamma = fslider(gamma, -3.0, 3.0, 0.1, "gamma (scale)")
        self.beta = fslider(beta, -5.0, 5.0, 0.1, "beta (shift)")
        self.batch_size = widgets.IntSlider(value=batch_size, min=2, max=512, description="batch size m",
                                            style=style, continuous_update=False)
        self.mode = widgets.ToggleButtons(options=[TRAINING, INFERENCE], value=mode, description="mode",
                                          style=style)
        self.steps = widgets.IntSlider(value=steps, min=0, max=500, description="training steps",
                                       style=style, continuous_update=False)
        self.momentum = widgets.Dropdown(options=[0.9, 0.99, 0.999], value=momentum, description="momentum",
                                         style=style)
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.stats: dict[str, float] = {}
        for control in self.controls:
            control.observe(self._update, names="value")
        super().__init__([
            widgets.HBox([widgets.VBox([self.mean, self.scale, self.gamma, self.beta]),
                          widgets.VBox([self.batch_size, self.mode, self.steps, self.momentum])]),
            self.summary, self.output,
        ])
        mark_explorer(self)
        self._update()

    @property
    def controls(self) -> tuple[widgets.Widget, ...]:
        return (self.mean, self.scale, self.gamma, self.beta, self.batch_size, self.mode, self.steps,
                self.momentum)

    def _batch(self, rng: np.random.Generator) -> np.ndarray:
        return self.mean.value + self.scale.value * rng.standard_normal((self.batch_size.value, 1))

    def _update(self, change=None) -> None:
        gamma = np.array([self.gamma.value])
        beta = np.array([self.beta.value])
        x = self._batch(np.random.default_rng(self.seed))
        moving_mean, moving_var = np.zeros(1), np.ones(1)  # Keras' initial moving statistics
        history = np.random.default_rng(self.seed + 1)
        for _ in range(self.steps.value):
            batchnorm_forward(self._batch(history), gamma, beta, moving_mean, moving_var, training=True,
                              momentum=self.momentum.value, epsilon=EPSILON)
        training = self.mode.value == TRAINING
        if training:
            out, _ = batchnorm_forward(x, gamma, beta, training=True, epsilon=EPSILON)
        else:
            out, _ = batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training=False, epsilon=EPSILON)
        self.stats = {
            "batch_mean": float(x.mean()), "batch_var": float(x.var()),
            "moving_mean": float(moving_mean[0]), "moving_var": float(moving_var[0]),
            "out_mean": float(out.mean()), "out_std": float(out.std()),
        }
        s = self.stats
        used = ("the batch's own statistics" if training else
                f"the moving statistics after {self.steps.value} steps with momentum {self.momentum.value}")
        lines = [
            f"mode: {self.mode.value}, normalised with {used}",
            f"  batch:   mean mu_B = {s['batch_mean']:.3f}, variance sigma_B^2 = {s['batch_var']:.3f}"
            f"  (m = {self.batch_size.value})",
            f"  moving:  mean {s['moving_mean']:.3f}, variance {s['moving_var']:.3f}"
            + ("" if training else "  <- used"),
            f"  output:  mean {s['out_mean']:.3f} (beta = {self.beta.value:.2f}), "
            f"std {s['out_std']:.3f} (|gamma| = {abs(self.gamma.value):.2f})",
        ]
        if not training and (abs(s["out_mean"] - self.beta.value) > 0.1 * max(1.0, abs(self.gamma.value))):
            lines.append("  the moving statistics have not caught up with the data yet: "
                         "more steps, or a smaller momentum")
        self.summary.value = _pre(lines)
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 2.8))
        plot_bn_histograms(x, out, bins=30, axes=axes, labels=["x"])
        axes[1].set_title(f"after BN ({self.mode.value})", fontsize=10)
        show_figure(self.output, fig)


def batchnorm_explorer(**kwargs) -> BatchNormExplorer:
    """The explorer of notebook 06 (keyword arguments: mean, scale, gamma, beta, batch_size, mode, steps,
    momentum, seed)."""
    return BatchNormExplorer(**kwargs)
