"""Segmentation helpers of notebook 08: classical methods, metrics and shift-and-stitch (numpy only).

* :func:`region_grow`: start from a seed pixel and add 4-neighbours whose colour is
  within ``threshold`` of the region's mean colour, until none qualifies.
* :func:`kmeans` / :func:`kmeans_segment`: cluster pixels by colour (optionally
  position), k-means++ initialisation, seeded.
* :func:`segmentation_scores`: pixel accuracy, per-class IoU and mean IoU.
* :func:`shift_and_stitch`: FCN's trick for dense output from a strided network:
  run it on ``f x f`` shifted copies of the input and interleave the coarse outputs.
* :func:`synthetic_shapes`: a seeded data set of discs, squares and triangles with
  their masks (the data of the notebook's FCN; also importable from
  :mod:`course_utils.architectures`).
* :func:`bilinear_kernel`: FCN's initialisation of an upsampling transposed convolution;
  :func:`coarse_mask` the best a score map of output stride ``s`` can do after
  bilinear upsampling (why FCN needs skips).
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np

__all__ = ["SHAPE_CLASSES", "bilinear_kernel", "coarse_mask", "kmeans", "kmeans_segment", "region_grow",
           "segmentation_scores", "shift_and_stitch", "synthetic_shapes"]


def region_grow(image: np.ndarray, seed: tuple[int, int], threshold: float) -> np.ndarray:
    """Boolean mask of the region grown from ``seed`` (row, col) in an ``(H, W)`` or ``(H, W, C)`` image.

    A 4-neighbour joins when the distance between its value and the current region
    mean is at most ``threshold`` (the similarity predicate).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[..., None]
    h, w = image.shape[:2]
    region = np.zeros((h, w), dtype=bool)
    region[seed] = True
    total, count = image[seed].copy(), 1
    frontier = deque([tuple(seed)])
    while frontier:
        r, c = frontier.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < h and 0 <= nc < w and not region[nr, nc]:
                if np.linalg.norm(image[nr, nc] - total / count) <= threshold:
                    region[nr, nc] = True
                    total += image[nr, nc]
                    count += 1
                    frontier.append((nr, nc))
    return region


def kmeans(features: np.ndarray, k: int, seed: int = 0, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of ``features`` ``(M, D)`` into ``k`` groups; returns ``(labels, centres)``.

    k-means++ initialisation (seeded), then Lloyd iterations until nothing changes.
    """
    features = np.asarray(features, dtype=np.float64)
    rng = np.random.default_rng(seed)
    centres = [features[rng.integers(len(features))]]
    for _ in range(1, k):
        d2 = np.min(((features[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(features[rng.choice(len(features), p=d2 / d2.sum())])
    centres = np.array(centres)
    labels = np.full(len(features), -1)
    for _ in range(iterations):
        new = np.argmin(((features[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            if np.any(labels == j):
                centres[j] = features[labels == j].mean(axis=0)
    return labels, centres


def kmeans_segment(image: np.ndarray, k: int, position_weight: float = 0.0, seed: int = 0) -> np.ndarray:
    """Label map ``(H, W)`` from k-means on each pixel's colour (and ``position_weight`` * its position)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[..., None]
    h, w, c = image.shape
    features = image.reshape(-1, c)
    if position_weight:
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        features = np.concatenate([features, position_weight * np.stack([yy.ravel(), xx.ravel()], 1)], axis=1)
    return kmeans(features, k, seed)[0].reshape(h, w)


def segmentation_scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """``{"pixel_accuracy", "iou" (per class, NaN if a class is absent from both), "mean_iou"}``."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    confusion = np.bincount(num_classes * y_true.astype(int) + y_pred.astype(int),
                            minlength=num_classes ** 2).reshape(num_classes, num_classes)
    intersection = np.diag(confusion).astype(float)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, intersection / union, np.nan)
    return {"pixel_accuracy": float(intersection.sum() / confusion.sum()), "iou": iou,
            "mean_iou": float(np.nanmean(iou))}


def shift_and_stitch(net: Callable[[np.ndarray], np.ndarray], x: np.ndarray, factor: int) -> np.ndarray:
    """Dense output of a network whose output stride is ``factor``, by shift-and-stitch.

    For every shift ``(a, b)`` with ``0 <= a, b < factor`` the network sees the input
    without its first ``a`` rows and ``b`` columns; its coarse output unit ``(m, n)`` then
    sits at dense position ``(factor*m + a, factor*n + b)``. ``net`` maps NHWC arrays to
    NHWC arrays. Positions no shift reaches stay NaN.
    """
    x = np.asarray(x)
    outputs = {(a, b): np.asarray(net(x[:, a:, b:, :])) for a in range(factor) for b in range(factor)}
    height = max(a + factor * (o.shape[1] - 1) + 1 for (a, _), o in outputs.items())
    width = max(b + factor * (o.shape[2] - 1) + 1 for (_, b), o in outputs.items())
    sample = outputs[0, 0]
    dense = np.full((sample.shape[0], height, width, sample.shape[3]), np.nan)
    for (a, b), coarse in outputs.items():
        dense[:, a::factor, b::factor, :][:, :coarse.shape[1], :coarse.shape[2], :] = coarse
    return dense


def bilinear_kernel(size: int, channels: int) -> np.ndarray:
    """A ``(size, size, channels, channels)`` transposed-conv kernel that upsamples bilinearly.

    Channel ``c`` is copied to channel ``c`` with the separable tent filter of FCN's
    initialisation (factor ``f = ceil(size / 2)``); other pairs get zero. With
    ``size = 2f``, stride ``f`` and ``"same"`` padding it reproduces bilinear resizing
    away from the border.
    """
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    tent = 1 - np.abs(np.arange(size) - centre) / factor
    kernel = np.zeros((size, size, channels, channels), dtype=np.float32)
    for c in range(channels):
        kernel[:, :, c, c] = np.outer(tent, tent)
    return kernel


def coarse_mask(masks: np.ndarray, stride: int, num_classes: int) -> np.ndarray:
    """The label maps ``(N, H, W)`` as seen through a score map of output stride ``stride``.

    Each ``stride x stride`` cell keeps the class fractions of its pixels (average
    pooling of the one-hot masks: a perfect coarse classifier), which are then
    upsampled bilinearly (as FCN's transposed convolution) and arg-maxed.
    """
    from course_utils.ops import avg_pool_forward, conv2d_transpose_forward

    one_hot = np.eye(num_classes)[np.asarray(masks, dtype=int)]
    if stride == 1:
        return one_hot.argmax(-1)
    coarse = avg_pool_forward(one_hot, stride)[0]
    scores = conv2d_transpose_forward(coarse, bilinear_kernel(2 * stride, num_classes), None,
                                      stride=stride, padding="same")[0]
    return scores.argmax(-1)


# ----------------------------------------------------------------------------- data
#: Class names of :func:`synthetic_shapes` (index = label in the masks).
SHAPE_CLASSES = ("background", "disc", "square", "triangle")


def synthetic_shapes(n: int, size: int = 64, seed: int = 0, max_shapes: int = 3, noise: float = 0.1
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` RGB images of discs, squares and triangles on a noisy background, with their masks.

    Returns ``(images, masks)``: float32 ``(n, size, size, 3)`` in ``[0, 1]`` and uint8
    ``(n, size, size)`` labels indexing :data:`SHAPE_CLASSES`. Each image has a smooth
    random background, 1 to ``max_shapes`` shapes (later ones on top) in random colours
    that differ from the background, and Gaussian noise. The same ``seed`` gives the same set.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        corners = rng.uniform(0.1, 0.6, (2, 2, 3))
        t, s = (yy / (size - 1))[..., None], (xx / (size - 1))[..., None]
        image = ((1 - t) * (1 - s) * corners[0, 0] + (1 - t) * s * corners[0, 1]
                 + t * (1 - s) * corners[1, 0] + t * s * corners[1, 1])
        background = image.mean(axis=(0, 1))
        for _ in range(rng.integers(1, max_shapes + 1)):
            label = int(rng.integers(1, len(SHAPE_CLASSES)))
            r = rng.uniform(0.1, 0.2) * size
            cy, cx = rng.uniform(r, size - r, 2)
            if label == 1:
                inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
            elif label == 2:
                inside = (np.abs(yy - cy) <= 0.85 * r) & (np.abs(xx - cx) <= 0.85 * r)
            else:  # upward triangle: apex at the top, base at the bottom
                inside = (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)
            color = rng.uniform(0, 1, 3)
            while np.linalg.norm(color - background) < 0.5:
                color = rng.uniform(0, 1, 3)
            image[inside] = color
            masks[i][inside] = label
        image += rng.normal(0, noise, image.shape)
        images[i] = np.clip(image, 0, 1)
    return images, masks
