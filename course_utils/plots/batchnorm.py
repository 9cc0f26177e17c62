"""Figures of notebook 06 (input normalisation, batch normalisation and regularisation).

* :func:`plot_input_normalization`: gradient descent on a least-squares loss with raw
  and with standardised inputs (LeCun et al., "Efficient BackProp").
* :func:`plot_bn_histograms`: a distribution before and after batch normalisation.
* :func:`plot_running_statistics`: moving averages of batch statistics against the steps.
* :func:`plot_history_comparison`: training loss per step and test accuracy per epoch of runs.
* :func:`plot_generalization_gap`: training against test curves (loss and accuracy) of runs.
* :func:`plot_activation_drift`: how the per-channel statistics of a hidden layer move in training.
* :func:`plot_dropout`: inverted dropout in training (one mask, the mean of many) and at inference.
* :func:`plot_augmented_images`: images and randomly augmented versions of them.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from course_utils.plots._axes import bare, figure_and_axis

__all__ = [
    "plot_activation_drift",
    "plot_augmented_images",
    "plot_bn_histograms",
    "plot_dropout",
    "plot_generalization_gap",
    "plot_history_comparison",
    "plot_input_normalization",
    "plot_running_statistics",
    "least_squares_descent",
    "normalization_problem",
]


# ----------------------------------------------------------------------------- input normalisation
def normalization_problem(mean: float = 4.0, std: float = 2.0, n: int = 500, seed: int = 0):
    """A linear model ``y = w x + b`` with one input feature of the given ``mean`` and ``std``.

    Returns ``(raw, standardised, y)``: the design matrices ``[x, 1]`` before and after
    standardising the feature (``(x - mean) / std``, measured on the data) and the targets.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(mean, std, n)
    y = 1.5 * x - 2.0 + 0.5 * rng.standard_normal(n)
    raw = np.column_stack([x, np.ones(n)])
    standardised = np.column_stack([(x - x.mean()) / x.std(), np.ones(n)])
    return raw, standardised, y


def least_squares_descent(x: np.ndarray, y: np.ndarray, steps: int):
    """Gradient descent on ``mean((x @ w - y)^2) / 2`` from ``w = 0``.

    The step is the best constant one for this quadratic, ``2 / (L_min + L_max)`` (the
    extreme eigenvalues of the Hessian ``x^T x / n``); each step shrinks the error by at
    least ``(kappa - 1) / (kappa + 1)``, ``kappa = L_max / L_min`` the condition number.
    Returns the path ``(steps + 1, d)``, the loss at every point and the optimum.
    """
    n = len(x)
    eigenvalues = np.linalg.eigvalsh(x.T @ x / n)
    lr = 2 / (eigenvalues.min() + eigenvalues.max())
    w = np.zeros(x.shape[1])
    path = [w.copy()]
    for _ in range(steps):
        w = w - lr * (x.T @ (x @ w - y) / n)
        path.append(w.copy())
    path = np.array(path)
    losses = 0.5 * np.mean((path @ x.T - y) ** 2, axis=1)
    optimum = np.linalg.lstsq(x, y, rcond=None)[0]
    return path, losses, optimum


def plot_input_normalization(mean: float = 4.0, std: float = 2.0, steps: int = 20, n: int = 500, seed: int = 0):
    """Loss contours over ``(w, b)`` and gradient-descent paths for a raw and a standardised input.

    Both panels take ``steps`` steps of the best constant learning rate (see
    :func:`least_squares_descent`); the titles give the condition number of the Hessian
    (how elongated the contours are) and the excess loss left after the steps.
    """
    raw, standardised, y = normalization_problem(mean, std, n, seed)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, inputs, title in ((axes[0], raw, f"raw input (mean {mean:g}, std {std:g})"),
                              (axes[1], standardised, "standardised input (mean 0, std 1)")):
        path, losses, optimum = least_squares_descent(inputs, y, steps)
        best = 0.5 * np.mean((inputs @ optimum - y) ** 2)
        span = np.abs(path - optimum).max() * 1.15
        grid_w, grid_b = np.meshgrid(np.linspace(optimum[0] - span, optimum[0] + span, 150),
                                     np.linspace(optimum[1] - span, optimum[1] + span, 150))
        weights = np.stack([grid_w.ravel(), grid_b.ravel()], axis=1)
        loss = 0.5 * np.mean((weights @ inputs.T - y) ** 2, axis=1).reshape(grid_w.shape)
        ax.contour(grid_w, grid_b, np.log(loss - best + 1e-6), levels=18, cmap="viridis", linewidths=0.8)
        ax.plot(path[:, 0], path[:, 1], ".-", color="tab:red", markersize=4, linewidth=1, label="gradient descent")
        ax.plot(*optimum, "k*", markersize=11, label="optimum")
        ax.set_aspect("equal")
        cond = np.linalg.cond(inputs.T @ inputs / len(inputs))
        excess = losses[-1] - best
        excess_text = f"{excess:.2g}" if excess > 1e-12 else "0 (to rounding)"
        ax.set_title(f"{title}\ncondition number {cond:.0f}, excess loss after {steps} steps: {excess_text}",
                     fontsize=10)
        ax.set_xlabel("weight w")
        ax.set_ylabel("bias b")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- batch normalisation
def plot_bn_histograms(before: np.ndarray, after: np.ndarray, bins: int = 40, axes=None,
                       labels: Sequence[str] | None = None):
    """Histograms of each channel (last axis) before and after normalisation, side by side."""
    before = np.asarray(before).reshape(-1, np.shape(before)[-1])
    after = np.asarray(after).reshape(-1, np.shape(after)[-1])
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    fig = axes[0].figure
    channels = before.shape[1]
    labels = list(labels) if labels is not None else [f"channel {c}" for c in range(channels)]
    for ax, values, title in ((axes[0], before, "before"), (axes[1], after, "after")):
        for c in range(channels):
            ax.hist(values[:, c], bins=bins, alpha=0.55, label=f"{labels[c]}: mean {values[:, c].mean():.2f}, "
                                                              f"std {values[:, c].std():.2f}")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_running_statistics(curves: Mapping[str, Sequence[float]], target: float | None = None,
                            ylabel: str = "moving mean", ax=None):
    """Moving averages (one curve per label) against the training step, with the value they should reach."""
    fig, ax = figure_and_axis(ax, (6.5, 3.5))
    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=label)
    if target is not None:
        ax.axhline(target, color="black", linestyle="--", linewidth=1, label="population value")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_history_comparison(results: Sequence, smooth: int = 10):
    """Left: training loss per step (moving average over ``smooth`` steps). Right: test accuracy per epoch.

    ``results`` are :class:`course_utils.experiments.RunResult` of the same budget and dataset.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.8))
    for r in results:
        loss = _smooth(r.step_loss, smooth)
        axes[0].plot(np.arange(len(loss)) + min(smooth, len(r.step_loss)), loss, label=r.name, linewidth=1.2)
        epochs = np.arange(1, len(r.history["val_accuracy"]) + 1)
        axes[1].plot(epochs, r.history["val_accuracy"], "o-", label=f"{r.name}: {r.test_accuracy:.3f}")
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel(f"training loss (mean of {smooth} steps)")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("test accuracy")
    axes[1].xaxis.get_major_locator().set_params(integer=True)
    if results:
        fig.suptitle(f"{results[0].title}", fontsize=11)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_generalization_gap(results: Sequence):
    """Loss (left) and accuracy (right) per epoch: training solid, test dashed, one colour per run.

    ``results`` are :class:`course_utils.experiments.RunResult`. The training curves are Keras'
    means over each epoch, measured in training mode (dropout and augmentation active); the
    test curves are measured in inference mode after each epoch. The legend gives each run's
    final training and test accuracy.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r, color in zip(results, colors * (len(results) // len(colors) + 1)):
        h = r.history
        epochs = np.arange(1, len(h["loss"]) + 1)
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(epochs, h[key], "-", color=color, linewidth=1.4,
                    label=f"{r.name}: train {h['accuracy'][-1]:.2f}, test {h['val_accuracy'][-1]:.2f}"
                    if key == "accuracy" else r.name)
            ax.plot(epochs, h[f"val_{key}"], "--", color=color, linewidth=1.4)
    axes[0].set_ylabel("loss (solid: training, dashed: test)")
    axes[1].set_ylabel("accuracy (solid: training, dashed: test)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    if results:
        fig.suptitle(f"{results[0].title}", fontsize=11)
    fig.tight_layout()
    return fig


def plot_activation_drift(results: Sequence, channels: int = 6):
    """Per-channel mean (line) and mean ± std (band) of the probed layer during training, one panel per run.

    ``results`` carry a ``probe`` (see ``course_utils.experiments.fit_model(probe=...)``).
    """
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 3.6), sharey=True, squeeze=False)
    for ax, r in zip(axes[0], results):
        p = r.probe
        for c, color in zip(range(min(channels, p["mean"].shape[1])), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
            ax.plot(p["steps"], p["mean"][:, c], color=color, linewidth=1.2)
            ax.fill_between(p["steps"], p["mean"][:, c] - p["std"][:, c], p["mean"][:, c] + p["std"][:, c],
                            color=color, alpha=0.12)
        ax.set_title(f"{r.name}: output of {p['layer']}", fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("per-channel mean ± std")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- regularisation
def plot_dropout(x: np.ndarray, rate: float = 0.5, samples: int = 1000, seed: int = 0):
    """A 2-D map through inverted dropout: input, one training mask, mean of ``samples`` masks, inference."""
    from course_utils.ops import dropout_forward

    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    one, _ = dropout_forward(x, rate, training=True, seed=rng)
    mean = np.mean([dropout_forward(x, rate, training=True, seed=rng)[0] for _ in range(samples)], axis=0)
    inference, _ = dropout_forward(x, rate, training=False)
    panels = [("input", x), (f"training: one mask (rate {rate:g})", one),
              (f"training: mean of {samples} masks", mean), ("inference: identity", inference)]
    vmax = max(np.abs(p).max() for _, p in panels)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    for ax, (title, values) in zip(axes, panels):
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=9)
        bare(ax)
    fig.colorbar(image, ax=axes, fraction=0.02)
    return fig


def plot_augmented_images(images: np.ndarray, augmenter, versions: int = 5, titles: Sequence[str] | None = None):
    """One row per image: the original, then ``versions`` outputs of ``augmenter(images, training=True)``."""
    import keras

    images = np.asarray(images, dtype="float32")
    outputs = [keras.ops.convert_to_numpy(augmenter(images, training=True)) for _ in range(versions)]
    rows = len(images)
    fig, axes = plt.subplots(rows, versions + 1, figsize=(1.6 * (versions + 1), 1.6 * rows), squeeze=False)
    cmap = "gray" if images.shape[-1] == 1 else None
    for i in range(rows):
        shown = [images[i]] + [o[i] for o in outputs]
        for j, picture in enumerate(shown):
            ax = axes[i][j]
            ax.imshow(np.clip(picture.squeeze(-1) if cmap else picture, 0, 1), cmap=cmap, vmin=0, vmax=1)
            bare(ax)
        axes[i][0].set_ylabel(titles[i] if titles is not None else "", fontsize=8)
    axes[0][0].set_title("original", fontsize=9)
    for j in range(1, versions + 1):
        axes[0][j].set_title(f"augmented {j}", fontsize=9)
    fig.tight_layout()
    return fig
