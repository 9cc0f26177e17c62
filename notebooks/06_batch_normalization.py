# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Batch normalisation and regularisation
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/06_batch_normalization.ipynb)
#
# Gradient descent is fastest when the features it works with are on similar scales.
# For the *inputs* of a network we arrange that once, before training. Batch normalisation
# (S. Ioffe and C. Szegedy, 2015, *Batch normalization: Accelerating deep network training by
# reducing internal covariate shift*) does it for the features *inside* the network, in every
# layer and at every step, and has become part of almost every CNN. Regularisation (dropout,
# weight decay, data augmentation) is the other half of training well: keeping a network that
# fits its training data from memorising it.
#
# In this notebook you will
#
# * see why normalised inputs make gradient descent faster (LeCun et al., "Efficient BackProp", 1998);
# * meet internal covariate shift and the batch-normalisation algorithm, the notes' four
#   equations, implemented in numpy and checked against Keras in training and inference mode;
# * derive BN's backward pass on its computational graph, node by node and then in closed form,
#   and check it against automatic differentiation and a numerical gradient (the gradient check);
# * follow the running statistics (Keras' momentum convention) and count BN's
#   2 trainable + 2 non-trainable parameters per channel;
# * train the same network without BN, with BN before and with BN after the ReLU, and compare;
# * implement and check dropout, weight decay and data augmentation.
#
# **Source.** *The notes* are the lecture notes *Advanced Convolutions, Batch Normalization
# and Receptive Field* (EIP4 course, Session 3).

# %%
# Open in Colab: https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/06_batch_normalization.ipynb
# On Colab this installs the course package, leaving every package Colab ships as it is;
# elsewhere it does nothing.
import sys
if "google.colab" in sys.modules:
    import importlib.metadata, json, re, subprocess, tempfile
    course = "git+https://github.com/advanced-convolutions/course"
    key = lambda name: re.sub(r"[-_.]+", "-", name).lower()
    runtime = {}  # what Colab ships, as pip sees it (the first of each name on sys.path)
    for dist in importlib.metadata.distributions():
        name = dist.metadata.get("Name")
        if name and key(name) != "course-utils":
            runtime.setdefault(key(name), dist.version)
    tmp = tempfile.mkdtemp()
    with open(f"{tmp}/runtime.txt", "w") as f:
        f.write("\n".join(f"{name}=={version}" for name, version in runtime.items()))
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", f"{tmp}/runtime.txt",
                          "--report", f"{tmp}/report.json", course], capture_output=True, text=True)
    if pip.returncode:
        raise RuntimeError("pip could not install the course package:\n" + pip.stderr[-3000:])
    added = [p["metadata"] for p in json.load(open(f"{tmp}/report.json"))["install"]]
    changed = [m["name"] for m in added if key(m["name"]) in runtime]
    print("installed", ", ".join(f"{m['name']} {m['version']}" for m in added) or "nothing new", "-",
          f"CHANGED Colab's {', '.join(changed)}" if changed else "no package of the Colab runtime changed")

# %%
import course_utils  # first: keeps TensorFlow's start-up messages out of the notebook

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers

from course_utils import config, experiments, ops, params, plots, widgets
from course_utils.exercises import nb06
from course_utils.plots.batchnorm import least_squares_descent, normalization_problem

np.set_printoptions(precision=3, suppress=True)
pd.set_option("display.width", 120)

# %% [markdown]
# ## 1. Normalising the inputs
#
# Take the simplest model, $\hat y = w x + b$, trained by gradient descent on the squared
# error $L = \frac{1}{2n}\sum_i (w x_i + b - y_i)^2$. The loss is a quadratic bowl whose
# shape is set by the Hessian
#
# $$
# H = \frac1n \sum_i \begin{bmatrix} x_i^2 & x_i \\ x_i & 1 \end{bmatrix}
#   = \begin{bmatrix} \sigma^2 + \mu^2 & \mu \\ \mu & 1 \end{bmatrix},
# $$
#
# with $\mu$ and $\sigma$ the mean and standard deviation of the input. A stable step size
# must be below $2/\lambda_\text{max}$, and then the flattest direction shrinks by a factor of
# only about $1 - 2/\kappa$ per step, $\kappa = \lambda_\text{max}/\lambda_\text{min}$ the
# *condition number*. A large mean or a large (or tiny) scale makes $\kappa$ large: long, narrow
# valleys in which gradient descent zig-zags. **Standardising** the input,
# $x \leftarrow (x - \mu)/\sigma$, makes $H$ the identity ($\kappa = 1$): the contours become
# circles and the gradient points straight at the minimum. That is LeCun's advice: shift
# every input to zero mean and scale it to unit variance (and decorrelate inputs if you can).
# What happens when one channel ranges over $[-1, 1]$ and another over $[-10, 10]$ is the same
# story in more dimensions.

# %%
plots.plot_input_normalization(mean=4.0, std=2.0, steps=20)
plt.show()

# %%
raw, standardised, y = normalization_problem(mean=4.0, std=2.0)
for label, inputs in (("raw", raw), ("standardised", standardised)):
    path, losses, optimum = least_squares_descent(inputs, y, steps=20)
    best = 0.5 * np.mean((inputs @ optimum - y) ** 2)
    close = np.flatnonzero(losses - best <= 0.01 * (losses[0] - best))  # excess loss below 1% of its start
    print(f"{label:13s} condition number {np.linalg.cond(inputs.T @ inputs / len(inputs)):6.1f}: excess loss "
          + (f"below 1% of its start after {close[0]} step(s)" if close.size else "still above 1% of its start after 20 steps"))

# %% [markdown]
# For images the usual recipe is per channel: the mean and standard deviation of each colour
# channel over the training images (never the test images), applied to every image. On a
# fixed sample of 1000 training images of the course's dataset:

# %%
(sample, _), _ = course_utils.data.load_images(config.dataset(), subset=(1000, 1))
channel_mean = sample.mean(axis=(0, 1, 2))
channel_std = sample.std(axis=(0, 1, 2))
normalised = (sample - channel_mean) / channel_std
print(f"{course_utils.data.info(config.dataset()).title}, per channel:")
print("  before: mean", channel_mean.round(3) + 0.0, " std", channel_std.round(3))  # + 0.0: no "-0."
print("  after:  mean", normalised.mean(axis=(0, 1, 2)).round(3) + 0.0, " std", normalised.std(axis=(0, 1, 2)).round(3))

# %% [markdown]
# ## 2. Why stop at the inputs? Internal covariate shift
#
# *Covariates* are input features; **covariate shift** means their distribution differs
# between parts of the data (say, training and test). A hidden layer faces the same problem
# from within: its inputs are the outputs of the layers below, and those change at every
# training step. A kernel that starts giving larger activations makes every kernel above it
# adapt to larger inputs, and so on up the network. Ioffe and Szegedy called this **internal
# covariate shift** and proposed to normalise the input of every layer, channel by channel,
# as we normalise the network's input. Section 6 measures how much the activations of a
# hidden layer move during training, with and without that normalisation.
#
# (Later work, e.g. Santurkar et al. 2018, "How Does Batch Normalization Help Optimization?",
# argues that the main benefit is a smoother loss landscape, which allows larger steps, rather
# than less covariate shift. Either way, the algorithm is the same.)
#
# The notes call BN (Ioffe and Szegedy, 2015) "the defacto standard for all CNNs and RNNs".
# For convolutional networks that is fair. For recurrent networks it is not: BN's statistics
# would have to be kept for every time step, and sequences of different lengths and small
# batches make them unreliable. The standard there is **layer normalisation** (Ba, Kiros and
# Hinton, 2016, *Layer normalization*), which normalises each example over its own features
# instead of over the batch, and works the same in training and at test time.

# %% [markdown]
# ## 3. The batch-normalisation algorithm
#
# For each channel, over a mini-batch $\mathcal{B} = \{x_{1\ldots m}\}$ of its values (for a
# convolutional layer: every image of the batch *and* every pixel, $m = N \cdot H \cdot W$),
# with learned parameters $\gamma$ (scale) and $\beta$ (shift):
#
# $$\mu_{\mathcal{B}} \leftarrow \frac{1}{m} \sum_{i=1}^m x_i \quad // \text{ mini-batch mean}$$
#
# $$\sigma_{\mathcal{B}}^2 \leftarrow \frac{1}{m} \sum_{i=1}^m (x_i - \mu_{\mathcal{B}})^2 \quad // \text{ mini-batch variance}$$
#
# $$\hat{x}_i \leftarrow \frac{x_i - \mu_{\mathcal{B}}}{\sqrt{\sigma_{\mathcal{B}}^2 + \epsilon}} \quad // \text{ normalize}$$
#
# $$y_i \leftarrow \gamma \hat{x}_i + \beta \equiv \text{BN}_{\gamma, \beta}(x_i) \quad // \text{ scale and shift}$$
#
# $\mu_\mathcal{B}$ and $\sigma_\mathcal{B}$ are functions of the batch, like activations;
# $\gamma$ and $\beta$ are parameters, like weights, learned by backpropagation. Why scale and
# shift again after normalising? So that normalising costs no expressive power: with
# $\gamma = \sqrt{\sigma_\mathcal{B}^2+\epsilon}$ and $\beta = \mu_\mathcal{B}$ the layer is the identity,
# and the network can learn whatever mean and spread suit the next layer. $\epsilon$ (Keras:
# $10^{-3}$) keeps the division safe.
#
# `ops.batchnorm_forward` implements the four lines. Feed it a batch whose two channels are on
# very different scales, like the notes' channel in $[-1, 1]$ next to one in $[-10, 10]$
# (here mean 0 and standard deviation 0.5, and mean 4 and standard deviation 5), and the same
# batch to a Keras `BatchNormalization` layer in training mode, with the same $\gamma$ and $\beta$:

# %%
rng = np.random.default_rng(0)
x = np.concatenate([rng.normal(0.0, 0.5, (16, 6, 6, 1)), rng.normal(4.0, 5.0, (16, 6, 6, 1))], axis=-1).astype("float32")
gamma, beta = np.array([1.5, 0.5], "float32"), np.array([0.0, 2.0], "float32")

moving_mean, moving_var = np.zeros(2, "float32"), np.ones(2, "float32")
out_numpy, cache = ops.batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training=True)

bn = layers.BatchNormalization()  # Keras defaults: momentum 0.99, epsilon 1e-3
bn.build(x.shape)
bn.set_weights([gamma, beta, np.zeros(2), np.ones(2)])  # gamma, beta, moving mean, moving variance
out_keras = keras.ops.convert_to_numpy(bn(x, training=True))

print("per channel, before: mean", x.mean(axis=(0, 1, 2)).round(2) + 0.0, " std", x.std(axis=(0, 1, 2)).round(2))
print("per channel, after:  mean", out_numpy.mean(axis=(0, 1, 2)).round(2) + 0.0, " std", out_numpy.std(axis=(0, 1, 2)).round(2),
      " (beta =", beta, ", gamma =", gamma, ")")
print("training output, numpy vs Keras: rel. error below 1e-5:", ops.rel_error(out_numpy, out_keras) < 1e-5)
print("moving statistics after one step, numpy vs Keras:",
      np.allclose(moving_mean, bn.moving_mean.numpy(), atol=1e-6), np.allclose(moving_var, bn.moving_variance.numpy(), atol=1e-5))

# %%
plots.plot_bn_histograms(x, out_numpy, labels=["channel 0", "channel 1"])
plt.show()

# %% [markdown]
# ### The backward pass, derived on the computational graph
#
# Training needs the gradients of the loss $L$ with respect to $x$, $\gamma$ and $\beta$, given the
# upstream gradient $g_i = \partial L/\partial y_i$. Take one channel and its $m$ values (the statistics
# of different channels never meet, so each channel is differentiated on its own) and write
# $\sigma = \sqrt{\sigma_\mathcal{B}^2 + \epsilon}$. In training mode the forward pass is a small
# computational graph, one node per elementary operation:
#
# $$
# x \;\xrightarrow{\ \text{mean}\ }\; \mu, \qquad
# c = x - \mu, \qquad
# v = \frac1m \sum_{i=1}^m c_i^2, \qquad
# \sigma = \sqrt{v + \epsilon}, \qquad
# \hat x = \frac{c}{\sigma}, \qquad
# y = \gamma \hat x + \beta .
# $$
#
# Every $x_i$ reaches $\hat x_i$ along three paths: directly through $c_i$, through the mean
# $\mu$ (which every $c_j$ subtracts), and through $\sigma$ (via $v$, which every $c_j$ feeds).
# Backpropagation visits the nodes in reverse order; at each node the upstream gradient is
# multiplied by the node's local derivative and, where a value feeds several nodes, the
# contributions are added.
#
# **The naive gradient, node by node.**
#
# 1. Scale and shift, $y_i = \gamma \hat x_i + \beta$:
#    $\dfrac{\partial L}{\partial \beta} = \sum_i g_i$, $\;\dfrac{\partial L}{\partial \gamma} = \sum_i g_i \hat x_i$,
#    $\;d\hat x_i := \dfrac{\partial L}{\partial \hat x_i} = \gamma\, g_i$.
# 2. Normalise, $\hat x_i = c_i / \sigma$: the direct path gives $\dfrac{d\hat x_i}{\sigma}$ to $c_i$, and
#    $\dfrac{\partial L}{\partial \sigma} = -\sum_i d\hat x_i \dfrac{c_i}{\sigma^2}$.
# 3. Square root, $\sigma = \sqrt{v + \epsilon}$: $\;\dfrac{\partial L}{\partial v} = \dfrac{\partial L}{\partial \sigma}\,\dfrac{1}{2\sigma}$.
# 4. Variance, $v = \frac1m \sum_i c_i^2$: $c_i$ gets a second contribution, so
#    $\dfrac{\partial L}{\partial c_i} = \dfrac{d\hat x_i}{\sigma} + \dfrac{\partial L}{\partial v}\,\dfrac{2 c_i}{m}$.
# 5. Centre, $c_i = x_i - \mu$: $\;\dfrac{\partial L}{\partial \mu} = -\sum_i \dfrac{\partial L}{\partial c_i}$,
#    and $x_i$ gets $\dfrac{\partial L}{\partial c_i}$.
# 6. Mean, $\mu = \frac1m \sum_i x_i$: every $x_i$ gets $\dfrac1m \dfrac{\partial L}{\partial \mu}$, so
#    $\dfrac{\partial L}{\partial x_i} = \dfrac{\partial L}{\partial c_i} + \dfrac1m \dfrac{\partial L}{\partial \mu}$.
#
# **The simplified closed form.** Substitute backwards, using $c_i = \sigma \hat x_i$. Steps 2 and 3 give
#
# $$
# \frac{\partial L}{\partial v} = -\frac{1}{2\sigma^3} \sum_j d\hat x_j\, c_j = -\frac{1}{2\sigma^2} \sum_j d\hat x_j\, \hat x_j ,
# $$
#
# so step 4 becomes
#
# $$
# \frac{\partial L}{\partial c_i} = \frac{d\hat x_i}{\sigma} - \frac{\sigma \hat x_i}{m\,\sigma^2} \sum_j d\hat x_j\, \hat x_j
#   = \frac{1}{\sigma}\Big(d\hat x_i - \frac{\hat x_i}{m} \sum_j d\hat x_j\, \hat x_j\Big).
# $$
#
# Summing over $i$ for step 5, the second term drops out because the normalised values have
# mean zero, $\sum_i \hat x_i = 0$:
#
# $$
# \frac{\partial L}{\partial \mu} = -\frac{1}{\sigma}\Big(\sum_i d\hat x_i - \frac{1}{m}\sum_i \hat x_i \sum_j d\hat x_j\, \hat x_j\Big)
#   = -\frac{1}{\sigma} \sum_i d\hat x_i .
# $$
#
# (For the same reason the path from $\mu$ through the variance contributes nothing:
# $\partial v/\partial \mu = -\frac2m \sum_i c_i = 0$.) Step 6 then adds the three paths up:
#
# $$
# \frac{\partial L}{\partial x_i}
#   = \frac{1}{\sigma}\Big(d\hat x_i - \frac1m \sum_j d\hat x_j - \frac{\hat x_i}{m} \sum_j d\hat x_j\, \hat x_j\Big)
#   = \frac{1}{m\,\sigma}\Big(m\, d\hat x_i - \sum_j d\hat x_j - \hat x_i \sum_j d\hat x_j\, \hat x_j\Big),
#   \qquad d\hat x = \gamma\, g .
# $$
#
# In words: the input gradient is the upstream gradient of $\hat x$, scaled by $1/\sigma$, minus its
# mean and minus its component along $\hat x$ (up to $\epsilon$: $\sum_i \hat x_i^2 = m\,v/(v+\epsilon)$).
# The two subtracted directions are the ones BN's output ignores: shifting all inputs of a channel
# by the same amount leaves $\hat x$ unchanged, and so (up to $\epsilon$) does scaling them, so neither
# gets any gradient. With $\sum_j d\hat x_j = \gamma \sum_j g_j = \gamma\,\partial L/\partial\beta$ and
# $\sum_j d\hat x_j \hat x_j = \gamma\,\partial L/\partial\gamma$, the closed form reuses the two parameter
# gradients, which is how `ops.batchnorm_backward` computes it (one line, no intermediate nodes):
# $\partial L/\partial x = \frac{\gamma}{m\sigma}\big(m\, g - \partial L/\partial\beta - \hat x\,\partial L/\partial\gamma\big)$.
#
# Below, the naive version is written out node by node, and both are compared with each other,
# with TensorFlow's automatic differentiation (`tf.GradientTape` through a Keras
# `BatchNormalization` layer in training mode) and with a **gradient check**. A gradient check
# compares a backward pass with centred finite differences,
# $\partial L/\partial \theta \approx \big(L(\theta + h) - L(\theta - h)\big)/2h$, entry by entry
# (`ops.check_gradients`, with $L = \sum_i g_i y_i$ so that the upstream gradient is $g$). Its error
# is $O(h^2)$, so in float64 with $h = 10^{-5}$ a correct backward pass agrees to about $10^{-10}$,
# and anything above $10^{-7}$ is a bug (float32 rounding alone gives about $10^{-3}$: check in
# float64). Errors are the largest difference relative to the largest entry (`ops.rel_error`),
# printed as a bound so that the output is the same on every machine.

# %%
def batchnorm_backward_naive(dout, x, gamma, eps=1e-3):
    """BN's backward pass node by node, in reverse order of the forward graph (training mode)."""
    over = tuple(range(x.ndim - 1))  # every axis but the channels
    m = x.size // x.shape[-1]  # values per channel
    mu = x.mean(axis=over)  # forward, keeping every node
    c = x - mu
    v = (c**2).mean(axis=over)
    sigma = np.sqrt(v + eps)
    x_hat = c / sigma
    dbeta = dout.sum(axis=over)  # 1. y = gamma * x_hat + beta
    dgamma = np.sum(dout * x_hat, axis=over)
    dx_hat = gamma * dout
    dc = dx_hat / sigma  # 2. x_hat = c / sigma: the direct path ...
    dsigma = -(dx_hat * c).sum(axis=over) / sigma**2  # ... and the path through sigma
    dv = dsigma / (2 * sigma)  # 3. sigma = sqrt(v + eps)
    dc = dc + dv * 2 * c / m  # 4. v = mean(c^2): c's second contribution
    dmu = -dc.sum(axis=over)  # 5. c = x - mu
    dx = dc + dmu / m  # 6. mu = mean(x)
    return dx, dgamma, dbeta


small = np.random.default_rng(1)  # float64: a batch of 4 images of 3x3 pixels and 2 channels
x64 = small.normal(3.0, 2.0, (4, 3, 3, 2))
gamma64, beta64 = small.normal(1.0, 0.5, 2), small.normal(0.0, 1.0, 2)
upstream = small.standard_normal(x64.shape)

_, cache64 = ops.batchnorm_forward(x64, gamma64, beta64, training=True)
closed_form = ops.batchnorm_backward(upstream, cache64)
naive = batchnorm_backward_naive(upstream, x64, gamma64)

bn64 = layers.BatchNormalization(epsilon=1e-3, dtype="float64")
bn64.build(x64.shape)
bn64.set_weights([gamma64, beta64, np.zeros(2), np.ones(2)])
x_variable = tf.Variable(x64)
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(bn64(x_variable, training=True) * upstream)
autodiff = [g.numpy() for g in tape.gradient(loss, [x_variable, bn64.gamma, bn64.beta])]

forward = lambda x, gamma, beta: ops.batchnorm_forward(x, gamma, beta, training=True)
numeric_closed = ops.check_gradients(forward, ops.batchnorm_backward, [x64, gamma64, beta64], dout=upstream, verbose=False)
numeric_naive = ops.check_gradients(lambda x, gamma, beta: (forward(x, gamma, beta)[0], (x, gamma)),
                                    lambda dout, inputs: batchnorm_backward_naive(dout, *inputs),
                                    [x64, gamma64, beta64], dout=upstream, verbose=False)


def bound(error, digits):
    return f"< 1e-{digits}" if error < 10.0**-digits else f"{error:.1e}, WRONG"


names = ["dL/dx", "dL/dgamma", "dL/dbeta"]
pd.DataFrame({
    "naive vs closed form": [bound(ops.rel_error(a, b), 13) for a, b in zip(naive, closed_form)],
    "closed form vs tf.GradientTape": [bound(ops.rel_error(a, b), 13) for a, b in zip(closed_form, autodiff)],
    "closed form vs finite differences": [bound(e, 9) for e in numeric_closed.values()],
    "naive vs finite differences": [bound(e, 9) for e in numeric_naive.values()],
}, index=names).T

# %% [markdown]
# ## 4. Training mode and inference mode
#
# At inference there may be a single image, and a prediction must not depend on which other
# images share its batch. So BN keeps **running (moving) statistics** during training and uses
# them, frozen, at inference. Keras updates them at every training step with
#
# $$
# \text{moving} \leftarrow \text{moving}\cdot\text{momentum} + \text{batch}\cdot(1 - \text{momentum}),
# $$
#
# starting from mean 0 and variance 1, with `momentum=0.99` by default. (PyTorch's `momentum` is
# the weight of the *batch*: its default 0.1 is Keras' 0.9, not 0.99. Check which convention a
# framework uses before copying a value. PyTorch also averages the unbiased variance,
# $\frac{m}{m-1}\sigma_\mathcal{B}^2$, where Keras averages $\sigma_\mathcal{B}^2$ itself.) At inference:
#
# $$
# y = \gamma\,\frac{x - \text{moving mean}}{\sqrt{\text{moving variance} + \epsilon}} + \beta,
# $$
#
# an affine function of $x$ that can be folded into the convolution before it (exercise 3).
# The numpy layer and Keras agree in this mode too (the moving statistics are those after the
# one training step above). Then the difference between the modes: the same image in two
# different batches.

# %%
inference_numpy, _ = ops.batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training=False)
inference_keras = keras.ops.convert_to_numpy(bn(x, training=False))
print("inference output (moving statistics), numpy vs Keras: rel. error below 1e-5:",
      ops.rel_error(inference_numpy, inference_keras) < 1e-5)

image = x[:1]
other_batch = np.concatenate([image, rng.normal(0.0, 3.0, (7, 6, 6, 2)).astype("float32")])
in_batch_1 = keras.ops.convert_to_numpy(bn(x, training=False))[0]
in_batch_2 = keras.ops.convert_to_numpy(bn(other_batch, training=False))[0]
print("inference: the image's output is the same in both batches:", np.allclose(in_batch_1, in_batch_2))

saved = bn.get_weights()  # a training call updates the moving statistics: keep them
train_1 = keras.ops.convert_to_numpy(bn(x, training=True))[0]
train_2 = keras.ops.convert_to_numpy(bn(other_batch, training=True))[0]
bn.set_weights(saved)
print("training:  the image's output is the same in both batches:", np.allclose(train_1, train_2))

# %% [markdown]
# The momentum sets the memory: the moving average weights the batch from $t$ steps ago by
# $(1-\text{momentum})\,\text{momentum}^t$, about $1/(1-\text{momentum})$ steps in all, and the
# start value still weighs $\text{momentum}^t$ after $t$ steps. Batches from a channel with
# mean 5 and standard deviation 3, through `ops.batchnorm_forward` and through Keras:

# %%
stream = np.random.default_rng(2)
batches = [stream.normal(5.0, 3.0, (32, 1)).astype("float32") for _ in range(300)]
curves = {}
for momentum in (0.9, 0.99):
    mean, var = np.zeros(1, "float32"), np.ones(1, "float32")
    keras_bn = layers.BatchNormalization(momentum=momentum)
    keras_bn.build((None, 1))
    trace = []
    for batch in batches:
        ops.batchnorm_forward(batch, np.ones(1, "float32"), np.zeros(1, "float32"), mean, var, training=True, momentum=momentum)
        keras_bn(batch, training=True)
        trace.append(float(mean[0]))
    curves[f"momentum {momentum}"] = trace
    print(f"momentum {momentum}: moving mean after 30 steps {trace[29]:.2f}, after 300 steps {trace[-1]:.2f}; "
          f"numpy == Keras: {np.allclose(mean, keras_bn.moving_mean.numpy(), atol=1e-4)}")

plots.plot_running_statistics(curves, target=5.0)
plt.show()

# %% [markdown]
# With the default 0.99 the moving mean needs a few hundred steps to forget its start. A short
# training run (a few epochs on a small dataset) can end before that, and then the network is
# fine in training mode but poor at inference, a classic surprise. The small network of this
# course's experiments, `experiments.small_cnn` (section 6), therefore uses `momentum=0.9`.
#
# **Explore.** Change the input's mean and spread, $\gamma$ and $\beta$, and the batch size;
# switch to inference mode and vary the number of training steps and the momentum. When does
# the inference output stop being normalised?

# %%
bn_explorer = widgets.batchnorm_explorer(mean=5.0, scale=3.0, steps=20, momentum=0.99)
bn_explorer

# %% [markdown]
# ### Exercise 1: the moving mean
#
# A fresh Keras `BatchNormalization(momentum=0.9)` sees 5 training batches, each with mean 2.0.
# What is its moving mean afterwards?

# %%
answer = None
result = nb06.moving_mean.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Starting from 0, after $t$ steps the moving mean is $\mu(1 - \text{momentum}^t)$:
# $2 \cdot (1 - 0.9^5) = 0.81902$.
#
# ```python
# answer = 2.0 * (1 - 0.9**5)
# ```
# </details>

# %% [markdown]
# ## 5. Parameters: 2 trainable + 2 non-trainable per channel
#
# A BN layer after a convolution with $C$ filters stores four vectors of length $C$: $\gamma$ and
# $\beta$, learned by the optimiser, and the moving mean and variance, updated by the forward
# pass and not by gradients. Keras lists them as trainable and non-trainable weights:

# %%
conv_bn = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, padding="same", name="conv"),
                            layers.BatchNormalization(name="bn"), layers.ReLU(name="relu")])
for w in conv_bn.get_layer("bn").weights:
    print(f"{w.path:28s} shape {tuple(w.shape)}  trainable: {w.trainable}")
table = params.parameter_table(conv_bn)
print("trainable", table.attrs["trainable"], "+ non-trainable", table.attrs["non_trainable"],
      "=", table.attrs["total"], "= Keras", conv_bn.count_params())
table[["layer", "type", "output", "params", "formula", "trainable", "non_trainable"]]

# %% [markdown]
# One more consequence of the algorithm: a bias in the convolution right before BN is wasted.
# BN subtracts the batch mean, so any constant added per channel cancels, and in training mode
# its gradient is exactly zero. That is why convolutions followed by BN are usually built with
# `use_bias=False` ($\beta$ does the bias's job):

# %%
inputs = tf.constant(np.random.default_rng(3).standard_normal((8, 28, 28, 1)).astype("float32"))
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(conv_bn(inputs, training=True) ** 2)
d_kernel, d_bias = tape.gradient(loss, conv_bn.get_layer("conv").trainable_weights)
print("largest |dL/d conv bias| relative to |dL/d conv kernel|:",
      bool(np.abs(d_bias).max() / np.abs(d_kernel).max() < 1e-4))

# %% [markdown]
# ### Exercise 2: count BN parameters
#
# A `BatchNormalization` layer follows a `Conv2D` with 64 filters. Give
# `(trainable, non_trainable)`.

# %%
answer = None
result = nb06.bn_parameters.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Statistics are per channel: $\gamma, \beta$ give $2\cdot64 = 128$ trainable, the moving mean
# and variance $2 \cdot 64 = 128$ non-trainable parameters, whatever the spatial size.
#
# ```python
# answer = (128, 128)
# ```
# </details>
#
# ### Exercise 3: fold BN into the convolution
#
# At inference, BN after a convolution is an affine map per output channel, so the pair can be
# replaced by one convolution with new weights. Write `fold(w, b, gamma, beta, mean, var, eps)`
# returning `(w_folded, b_folded)` (`w` of shape $(k, k, C_\text{in}, C_\text{out})$, the others of
# shape $(C_\text{out},)$). Deployment tools do exactly this, which is why
# `parameter_table` counts no MACs for BN.

# %%
def fold(w, b, gamma, beta, mean, var, eps):
    return None  # replace None by (w_folded, b_folded)


answer = None  # then: answer = fold
result = nb06.fold_batchnorm.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# $\gamma \frac{(w * x + b) - \mu}{\sqrt{\sigma^2+\epsilon}} + \beta
#  = \underbrace{\tfrac{\gamma}{\sqrt{\sigma^2+\epsilon}} w}_{w'} * x
#  + \underbrace{\tfrac{\gamma}{\sqrt{\sigma^2+\epsilon}}(b - \mu) + \beta}_{b'}$,
# with one scale per output channel (the last axis of `w`):
#
# ```python
# def fold(w, b, gamma, beta, mean, var, eps):
#     scale = gamma / np.sqrt(var + eps)
#     return w * scale, (b - mean) * scale + beta
#
# answer = fold
# ```
# </details>

# %% [markdown]
# ## 6. Experiment: without BN, BN before the ReLU, BN after the ReLU
#
# "ReLU before BN or BN before ReLU?" ask the notes. The original paper puts BN between the
# convolution and the non-linearity (`conv → BN → ReLU`), and so do ResNet and MobileNet; others
# report that `conv → ReLU → BN` works as well or better. Rather than take sides, train the
# same network (`experiments.small_cnn`, standard convolutions, width 16) three ways, with the
# same seed, data and optimiser: no BN, BN before and BN after every ReLU. The convolutions keep
# their biases in all three so that the networks differ only in the BN layers. During training
# `fit_model` also records, about 40 times, the per-channel mean and standard deviation of the
# output of the second block on a fixed batch of test images: the input distribution that
# the third block has to cope with.

# %%
budget = config.budget("batchnorm")
data = experiments.load_data(budget)
print("dataset:", data.title, "| input shape:", data.input_shape, "| classes:", data.num_classes)

variants = {"no BN": None, "BN before ReLU": "before_relu", "BN after ReLU": "after_relu"}
probe_layer = {None: "block2_relu", "before_relu": "block2_relu", "after_relu": "block2_bn"}  # output of block 2


def build(placement):
    return experiments.small_cnn(data.input_shape, data.num_classes, width=16, batchnorm=placement)


pd.DataFrame([{"variant": name, "params": build(p).count_params(),
               "trainable": sum(int(np.prod(w.shape)) for w in build(p).trainable_weights)}
              for name, p in variants.items()])

# %%
# NBVAL_IGNORE_OUTPUT
# Trains three small networks (a few minutes on a laptop CPU with the full budget).
runs = [experiments.fit_model(name, lambda: build(placement), data, budget, probe=probe_layer[placement])
        for name, placement in variants.items()]
print(f"{data.title}: {len(data.x_train)} training and {len(data.x_test)} test images, {budget.epochs} epochs, seed 0")
print("ranking by test accuracy:", " > ".join(r.name for r in sorted(runs, key=lambda r: -r.test_accuracy)))
experiments.results_table(runs)

# %%
plots.plot_history_comparison(runs, smooth=10)
plt.show()

# %% [markdown]
# Left, the training loss step by step; right, the test accuracy after each epoch (in
# inference mode, with the moving statistics). The table and the ranking above are this run's
# result. BN's best-documented effect is the first one to look for: both BN variants should
# lower the training loss faster than the plain network from the first steps on. Whether BN
# goes before or after the ReLU is a closer call. The original paper and ResNet put it before;
# after the ReLU, the next convolution receives inputs of zero mean and unit variance,
# negative values included, which some experiments find better. One seed and a few epochs are
# an anecdote, not a verdict: to settle it for your network, repeat the runs with several seeds
# (`fit_model(..., seed=s)`) and compare the spread with the gap.
#
# And the internal covariate shift: each line is one channel of the block-2 output (mean, with a
# band of ± one standard deviation) over training. Without BN the channels drift to arbitrary,
# different scales as the lower layers learn. With BN the statistics the next layer receives are
# set by $\gamma$ and $\beta$ alone: after BN and a ReLU, with $\gamma \approx 1, \beta \approx 0$
# early in training, every channel has the mean $1/\sqrt{2\pi} \approx 0.40$ and standard deviation
# $\sqrt{1/2 - 1/(2\pi)} \approx 0.58$ of a rectified standard normal; BN after the ReLU gives 0 and 1.

# %%
plots.plot_activation_drift(runs, channels=6)
plt.show()

# %% [markdown]
# ## 7. Regularisation
#
# Regularisation fights overfitting: a network with enough parameters can fit its training
# set, noise included, and do worse on new data. Some techniques also shrink or zero weights,
# which helps to make models smaller and cheaper, for example on mobile devices. The three
# most used in practice are **data augmentation**, **dropout** and **weight decay**.
#
# ### Dropout
#
# In training, dropout sets each unit to zero with probability $p$ (Keras' `rate`), a new
# random mask at every step, so that no unit can rely on particular others. *Inverted*
# dropout, what Keras and PyTorch implement, scales the kept units by $\frac{1}{1-p}$ during
# training, so that the expected value of every unit is unchanged,
#
# $$
# \mathbb{E}[\tilde x] = (1-p)\cdot\frac{x}{1-p} + p \cdot 0 = x,
# $$
#
# and inference is simply the identity (no rescaling at test time). `ops.dropout_forward` and
# Keras' `Dropout` agree:

# %%
rate = 0.4
activations = np.abs(np.random.default_rng(4).standard_normal((1, 10_000))).astype("float32")
ours, mask = ops.dropout_forward(activations, rate, training=True, seed=0)
theirs = keras.ops.convert_to_numpy(layers.Dropout(rate, seed=0)(activations, training=True))
for label, out in (("numpy (ops)", ours), ("Keras", theirs)):
    kept = out != 0
    print(f"{label:12s} dropped fraction {1 - kept.mean():.2f} (rate {rate}), kept units scaled by "
          f"{(out[kept] / activations[kept]).max():.4f} = 1/(1-rate) = {1 / (1 - rate):.4f}, "
          f"mean ratio {out.mean() / activations.mean():.2f}")
print("inference is the identity:",
      np.array_equal(ops.dropout_forward(activations, rate, training=False)[0], activations),
      np.array_equal(keras.ops.convert_to_numpy(layers.Dropout(rate)(activations, training=False)), activations))

# %%
plots.plot_dropout(np.random.default_rng(5).uniform(0.2, 1.0, (12, 12)), rate=0.5)
plt.show()

# %% [markdown]
# ### Exercise 4: the dropout scale
#
# In training, `keras.layers.Dropout(0.25)` sets each unit to 0 or multiplies it by a factor.
# Which factor?

# %%
answer = None
result = nb06.dropout_scale.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Kept with probability $1 - 0.25 = 0.75$, so the kept units are multiplied by $1/0.75 = 4/3$.
#
# ```python
# answer = 1 / (1 - 0.25)
# ```
# </details>

# %% [markdown]
# ### Weight decay (L2 regularisation)
#
# Add a penalty on the size of the weights to the loss, $L' = L + \lambda \sum_w w^2$. Its
# gradient is $2\lambda w$, so one step of plain gradient descent with learning rate $\eta$ is
#
# $$
# w \leftarrow w - \eta\,(\nabla L + 2\lambda w) = (1 - 2\eta\lambda)\,w - \eta\,\nabla L:
# $$
#
# every step first shrinks ("decays") each weight by a constant factor. Large weights must
# earn their size by reducing $L$. In Keras it is `kernel_regularizer=keras.regularizers.L2(λ)`,
# which adds $\lambda \sum w^2$ to `model.losses`. (With Adam the equivalence breaks, because
# the penalty's gradient gets rescaled too; `keras.optimizers.AdamW` applies the decay
# directly: the "decoupled weight decay" of I. Loshchilov and F. Hutter, 2019, *Decoupled
# weight decay regularization*.) Both claims, checked:

# %%
lam, lr = 0.01, 0.1
dense = layers.Dense(4, kernel_regularizer=keras.regularizers.L2(lam), use_bias=False)
dense.build((None, 3))
w0 = dense.kernel.numpy().copy()
print("penalty = lam * sum(w^2):", np.isclose(float(sum(dense.losses)), lam * np.sum(w0**2)))

with tf.GradientTape() as tape:
    penalty = tf.add_n(dense.losses)  # only the penalty: then the SGD step is pure decay
grads = tape.gradient(penalty, dense.trainable_weights)
keras.optimizers.SGD(learning_rate=lr).apply_gradients(zip(grads, dense.trainable_weights))
print("one SGD step on the penalty multiplies w by (1 - 2 lr lam) =", 1 - 2 * lr * lam, ":",
      np.allclose(dense.kernel.numpy(), (1 - 2 * lr * lam) * w0))

# %% [markdown]
# ### Data augmentation
#
# The cheapest way to more training data: random transformations that keep the label, here
# shifts, small rotations, zoom and horizontal flips (`experiments.augmentation`, Keras
# preprocessing layers). Like dropout they act only in training; at inference they pass
# images through unchanged. Pick transformations that preserve the class: a horizontally
# flipped shirt is still a shirt, but a vertically flipped 6 is a 9.

# %%
augmenter = experiments.augmentation(seed=0)
(pictures, labels), _ = course_utils.data.load_images(config.dataset(), subset=(4, 1))
names = [course_utils.data.info(config.dataset()).class_names[k] for k in labels]
keras.utils.set_random_seed(0)
plots.plot_augmented_images(pictures, augmenter, versions=5, titles=names)
plt.show()
print("at inference the augmentation is the identity:",
      np.allclose(keras.ops.convert_to_numpy(augmenter(pictures, training=False)), pictures))

# %% [markdown]
# ### Experiment: the three regularisers, measured
#
# The network of section 6 (`experiments.small_cnn`, width 16, no BN) on a deliberately small
# training set, where it can fit its training images better than new ones, four times with the
# same seed, data and optimiser (Adam, learning rate $3\cdot10^{-3}$): no regularisation;
# dropout $p = 0.5$ before the classifier; weight decay $\lambda = 10^{-3}$ on every kernel; and the
# augmentation above in front of the network (`fit_model(..., augment=experiments.augmentation)`).
# The full budget trains on 500 Fashion-MNIST training images for 30 epochs and tests on 1,000
# test images; the quick budget (`COURSE_QUICK=1`) on 300 for 3 epochs, far too short to overfit,
# so its numbers say nothing about regularisation. The table re-evaluates both splits with the
# final weights in inference mode (`results_table(..., data=data)`: dropout and augmentation off,
# the loss without the weight-decay penalty), so that the four runs are measured alike.

# %%
# NBVAL_IGNORE_OUTPUT
# Trains four small networks (about two and a half minutes on a 2-core CPU with the full budget).
small = config.budget("regularisation")
small_data = experiments.load_data(small)
settings = {"none": ({}, None), "dropout 0.5": ({"dropout": 0.5}, None),
            "weight decay 1e-3": ({"weight_decay": 1e-3}, None), "augmentation": ({}, experiments.augmentation)}
regularised = [experiments.fit_model(name, lambda: experiments.small_cnn(small_data.input_shape,
                                                                           small_data.num_classes, width=16, **kw),
                                     small_data, small, learning_rate=3e-3, augment=augment)
               for name, (kw, augment) in settings.items()]
print(f"{small_data.title}: {len(small_data.x_train)} training and {len(small_data.x_test)} test images, "
      f"{small.epochs} epochs, batch {small.batch_size}")
experiments.results_table(regularised, data=small_data)

# %%
plots.plot_generalization_gap(regularised)
plt.show()

# %% [markdown]
# What the saved run (full budget) shows. Without regularisation the network fits its 500
# training images better than the test images: accuracy 0.824 against 0.736, a gap of 0.088,
# and cross-entropy 0.473 against 0.721; in the figure its training loss (solid blue) keeps
# falling until about epoch 25, to below 0.5, while the test loss (dashed blue) stops falling
# after about 15 epochs.
# Dropout narrowed the accuracy gap to 0.074 and raised the test accuracy to 0.758; weight decay
# left the gap where it was (0.089) but raised both accuracies, the test accuracy to 0.757.
# Both lowered the loss gap a little (0.226 and 0.224 against 0.248). The test accuracies of
# these three runs differ by about 0.02, while the standard error of an accuracy near 0.75
# measured on 1,000 images is $\sqrt{0.75 \cdot 0.25 / 1000} \approx 0.014$: with one seed this
# is a hint, not a proof. Augmentation had the smallest gap (0.038), but not because it
# generalised better: within these 30 epochs it lowered both accuracies, to 0.592 on the
# training images and 0.554 on the test images, with an unsteady test curve. It fitted the
# augmented images (0.72 in the last epoch, solid red) better than the original ones, which the
# network never sees unchanged in training; augmentation makes the task harder and pays off
# only with longer training, which this budget does not give.
#
# Two things to read the figure right: the training curves are measured in training mode
# (dropout and augmentation on), so they sit below the table's train accuracy for those runs;
# and the losses of the weight-decay run in the figure include the penalty
# $\lambda \sum w^2$ (on both curves), the table's do not. The quick budget (300 images,
# 3 epochs) stops long before the network overfits: its numbers only show that the code runs.
#
#
# ### Exercise 5: find the bug
#
# `nb06.buggy_batchnorm` runs on an image batch `(N, H, W, C)` without an error. Predict whether
# each channel of its output has mean 0 and variance 1 over the batch *and* the positions, run the
# cell, then find the bug and write the repaired function.

# %%
import inspect

print(inspect.getsource(nb06.buggy_batchnorm))
x_bug = np.random.default_rng(5).standard_normal((8, 4, 4, 2)) * 3 + 1
ones, zeros = np.ones(2), np.zeros(2)
reference, _ = ops.batchnorm_forward(x_bug, ones, zeros)
print("largest difference from ops.batchnorm_forward:",
      round(float(np.abs(nb06.buggy_batchnorm(x_bug, ones, zeros) - reference).max()), 2))

# %%
def batchnorm(x, gamma, beta, eps=1e-3):
    ...


answer = None  # replace with: answer = batchnorm
result = nb06.fix_batchnorm.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# For images BN averages each channel over the batch **and** every position, axes `(0, 1, 2)`; the
# buggy version averages over the batch only, so every pixel position gets statistics of its own.
#
# ```python
# def batchnorm(x, gamma, beta, eps=1e-3):
#     mean = x.mean(axis=(0, 1, 2))
#     var = x.var(axis=(0, 1, 2))
#     return gamma * (x - mean) / np.sqrt(var + eps) + beta
#
# answer = batchnorm
# ```
# </details>
#
# ## What to remember
#
# * BN standardises every channel with the mini-batch's mean and (biased) variance, over the
#   batch and all positions, then scales by $\gamma$ and shifts by $\beta$.
# * Training uses the batch statistics, inference the moving ones; at inference BN folds into the convolution.
# * Backward: $\partial L/\partial x = \frac{1}{m\sigma}\big(m\,d\hat x - \sum d\hat x - \hat x \sum d\hat x\,\hat x\big)$
#   with $d\hat x = \gamma\,\partial L/\partial y$; check every backward pass with finite differences in float64.
# * Per channel: 2 trainable and 2 non-trainable parameters; a bias right before BN is wasted.
# * Dropout, weight decay and augmentation act in training only; judge them by the gap between
#   training and validation scores, both measured in inference mode. Whether BN goes before or
#   after the ReLU is an empirical question.
