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
# # 01 · Convolution basics and arithmetic
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/01_convolution_basics.ipynb)
#
# A convolution extracts features by sliding a small kernel (a filter) over its input: at
# every position it multiplies the kernel with the patch under it, sums the products and
# writes the sum into a new feature map. This notebook takes that sentence apart:
#
# 1. the worked example of the course notes, computed with numpy and with TensorFlow;
# 2. why deep-learning "convolution" is really **cross-correlation** (no kernel flip);
# 3. **channels** and the **pointwise** $1\times1$ convolution;
# 4. **padding** and **stride**: what they do, and when (not) to use a stride; **pooling**
#    (max, average and global average), a downsampling without weights;
# 5. the **output-size formula** with the notes' three worked lines, and the convolution
#    arithmetic relationships of Dumoulin & Visin;
# 6. every argument of `Conv2D`, including `dilation_rate` and `groups`;
# 7. an explorer, and exercises that check themselves.
#
# Every number is computed here, by `course_utils` and by TensorFlow / Keras, and the two
# are compared.
#
# **Sources.** *The notes* are the lecture notes *Advanced Convolutions, Batch Normalization
# and Receptive Field* (EIP4 course, Session 3). *The lecture* is H. Bilen, *Convolutional
# Networks 2: Training, deep convolutional networks*, Machine Learning Practical, Lecture 8,
# University of Edinburgh, 2018.

# %%
# Open in Colab: https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/01_convolution_basics.ipynb
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
import numpy as np
import pandas as pd
import tensorflow as tf

from course_utils import arithmetic, ops, params, plots, widgets
from course_utils.exercises import nb01

np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. What a convolution layer computes
#
# With the input $I$ and the kernel $W$ indexed from 0, output value $(i, j)$ is
#
# $$h_{i,j} = \sum_{m}\sum_{n} I(m+i,\; n+j)\, W(m, n), \qquad h = I \star W .$$
#
# (The course writes this operation, a cross-correlation, as $\star$; section 2 says why it is still called a convolution.)
#
# The kernel sits on the patch whose top-left corner is $(i, j)$, the two are multiplied
# element by element and summed. With a **stride** $s$ the patch of output $(i, j)$ starts
# at $(s\,i, s\,j)$; with **padding** $p$ the input is first surrounded by $p$ rings of zeros.
#
# ### The worked example of the notes
#
# The notes show a $5\times5$ input inside a one-pixel border of zeros ($7\times7$ in all),
# with the $3\times3$ kernel written as small subscripts on the first window, and the
# $3\times3$ output of a stride-2 convolution. Read off the subscripts row by row and
# the kernel is
# $W = \begin{pmatrix}2&0&1\\1&0&0\\0&1&1\end{pmatrix}$.

# %%
NOTES_INPUT = np.array([[2, 2, 3, 3, 3],
                       [0, 1, 3, 0, 3],
                       [2, 3, 0, 1, 3],
                       [3, 3, 2, 1, 2],
                       [3, 3, 0, 2, 3]])
NOTES_KERNEL = np.array([[2, 0, 1],
                        [1, 0, 0],
                        [0, 1, 1]])          # the subscripts of the first window
NOTES_OUTPUT = np.array([[1, 6, 5],
                        [7, 10, 9],
                        [7, 10, 8]])         # the output printed in the notes

out_numpy, _ = ops.conv2d_forward(ops.image4d(NOTES_INPUT), ops.kernel4d(NOTES_KERNEL), None, stride=2, padding=1)
out_tf = tf.nn.conv2d(ops.image4d(NOTES_INPUT), ops.kernel4d(NOTES_KERNEL), strides=2,
                      padding=[[0, 0], [1, 1], [1, 1], [0, 0]])
print("stride 2, padding 1 (numpy, course_utils.ops):\n", out_numpy[0, :, :, 0].astype(int))
print("tf.nn.conv2d gives the same:", np.array_equal(out_numpy, out_tf.numpy()))
print("same as the notes' output:", np.array_equal(out_numpy[0, :, :, 0], NOTES_OUTPUT))

# %% [markdown]
# Only three of the nine values agree with the notes: $(0,0) = 1$, because the first window
# is the same at both strides, and, by coincidence, $(1,0) = 7$ and $(2,1) = 10$. Check
# output $(0, 1)$ by hand: with stride 2 its window covers padded rows 0–2 and columns 2–4.

# %%
padded = np.pad(NOTES_INPUT, 1)
window = padded[0:3, 2:5]
print("window:\n", window)
print("window * kernel:\n", window * NOTES_KERNEL)
print("sum =", int(np.sum(window * NOTES_KERNEL)), " (the notes print", NOTES_OUTPUT[0, 1], ")")
fig = plots.plot_conv_step(NOTES_INPUT, NOTES_KERNEL, stride=2, padding=1, position=(0, 1))

# %% [markdown]
# So where do the notes' numbers come from? Run the same kernel with **stride 1**: the
# $5\times5$ output's top-left $3\times3$ corner is exactly the printed output.

# %%
out_stride1, _ = ops.conv2d_forward(ops.image4d(NOTES_INPUT), ops.kernel4d(NOTES_KERNEL), None, stride=1, padding=1)
out_stride1 = out_stride1[0, :, :, 0].astype(int)
print("stride 1, padding 1:\n", out_stride1)
print("its top-left 3x3 is the notes' output:", np.array_equal(out_stride1[:3, :3], NOTES_OUTPUT))

# %% [markdown]
# The picture in the notes comes from the animation `numerical_padding_strides` of V. Dumoulin
# and F. Visin, *A guide to convolution arithmetic for deep learning* (2016): the window is
# drawn moving two pixels at a time, but the values were computed with windows one pixel
# apart. The authors confirmed the slip (GitHub `vdumoulin/conv_arithmetic`, issue 17). The correct
# stride-2 result is the one above,
# $\begin{pmatrix}1&5&6\\7&8&3\\3&10&4\end{pmatrix}$.
#
# Keras writes the same layer as `Conv2D(1, 3, strides=2, padding="same")`: for a
# $5\times5$ input, `"same"` pads one zero on each side here (more on `"same"` in section 5).

# %%
layer = keras.layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False)
layer.build((None, 5, 5, 1))
layer.set_weights([ops.kernel4d(NOTES_KERNEL)])
print("'same' padding for n=5, k=3, s=2 (top, bottom):", arithmetic.same_padding(5, 3, 2))
print("Keras Conv2D gives the numpy result:", np.array_equal(layer(ops.image4d(NOTES_INPUT)).numpy(), out_numpy))

# %% [markdown]
# ## 2. Convolution or cross-correlation?
#
# The formula above is a **cross-correlation**. In signal processing a 2-D convolution runs
# one of the two indices backwards:
#
# $$h_{i,j} = (I * V)_{i,j} = \sum_{m}\sum_{n} I(i-m,\; j-n)\, V(m, n).$$
#
# Substituting shows that convolving with $V$ is cross-correlating with $V$ **flipped**
# (reflected horizontally and vertically, i.e. rotated by $180°$): $W(m, n) = V(-m, -n)$.
# numpy has both operations in 1-D, and they differ exactly by that flip:

# %%
signal = np.array([0., 1., 2., 3., 0., 0.])
v = np.array([1., 2., 4.])
print("np.convolve(signal, v)          :", np.convolve(signal, v, mode="valid"))
print("np.correlate(signal, v)         :", np.correlate(signal, v, mode="valid"))
print("np.correlate(signal, flipped v) :", np.correlate(signal, v[::-1], mode="valid"))

# %% [markdown]
# In 2-D the same holds. We compute a true 2-D convolution independently, through the
# Fourier transform (the convolution theorem: the transform of $I * V$ is the product of
# the transforms), and compare it with TensorFlow's `conv2d` run on the flipped kernel:

# %%
rng = np.random.default_rng(0)
I = rng.integers(0, 5, size=(6, 6)).astype(float)
V = np.array([[1., 2., 0.],
              [0., 3., -1.],
              [0., 0., 1.]])                 # no symmetry, so a flip changes it
full = np.real(np.fft.ifft2(np.fft.fft2(I, (8, 8)) * np.fft.fft2(V, (8, 8))))
true_conv = np.rint(full[2:6, 2:6])          # the 'valid' part: V lies entirely inside I
xcorr_flipped = tf.nn.conv2d(ops.image4d(I), ops.kernel4d(V[::-1, ::-1]), 1, "VALID").numpy()[0, :, :, 0]
xcorr = tf.nn.conv2d(ops.image4d(I), ops.kernel4d(V), 1, "VALID").numpy()[0, :, :, 0]
print("convolution (FFT) == conv2d with the flipped kernel:", np.allclose(true_conv, xcorr_flipped))
print("convolution (FFT) == conv2d with the kernel itself :", np.allclose(true_conv, xcorr))
fig = plots.plot_matrix_row([(V, "$V$"), (V[::-1, ::-1], "flipped $V$ = $W$")], operators=["→"])

# %% [markdown]
# Does it matter? Not for learning: the kernel is *learned*, and a network that would need
# $V$ simply learns its flip $W$. The two coincide for kernels that a $180°$ rotation leaves
# unchanged (a box blur, the Laplacian).
# It matters when you bring a kernel from image processing (a Sobel filter, say) into a
# deep-learning library, and it reappears in backpropagation: the gradient with respect to
# the input is a *true* convolution with the kernel, that is, a cross-correlation with the
# kernel rotated by $180°$ (notebook 07). Libraries call
# their cross-correlation "convolution", and so will we.

# %% [markdown]
# ## 3. Channels
#
# Images have channels (RGB: 3) and so do feature maps (one per filter of the previous
# layer). A filter is as deep as its input: in Keras its weights are $(k_h, k_w, C_{in})$ and
# a layer with $C_{out}$ filters has weights $(k_h, k_w, C_{in}, C_{out})$ (TensorFlow's
# layout, NHWC inputs). Each filter cross-correlates every input channel with its own
# $k\times k$ slice and **adds the results** (and a bias) into **one** output channel.

# %%
x3 = rng.integers(0, 3, size=(1, 4, 4, 3)).astype(np.float32)      # one 4x4 image, 3 channels
w3 = rng.integers(-1, 2, size=(3, 3, 3, 1)).astype(np.float32)     # one 3x3x3 filter
b3 = np.array([1.0], dtype=np.float32)
partial = [ops.conv2d_forward(x3[..., c:c + 1], w3[:, :, c:c + 1, :], None)[0][0, :, :, 0] for c in range(3)]
out3 = tf.nn.conv2d(x3, w3, 1, "VALID").numpy()[0, :, :, 0] + b3[0]
print("sum of the per-channel maps + bias == tf.nn.conv2d + bias:", np.allclose(sum(partial) + b3[0], out3))
fig = plots.plot_matrix_row([(partial[0], "channel 0 ⋆ $w_0$"), (partial[1], "channel 1 ⋆ $w_1$"),
                             (partial[2], "channel 2 ⋆ $w_2$"), ([[b3[0]]], "bias"), (out3, "output channel")],
                            operators=["+", "+", "+", "="])

# %% [markdown]
# The parameter count follows: $k_h k_w C_{in} C_{out}$ weights plus $C_{out}$ biases. For
# 8 filters of $3\times3$ on an RGB image, `course_utils.params` writes the formula and agrees
# with Keras:

# %%
rgb_layer = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, name="conv")])
table = params.parameter_table(rgb_layer)
print(table[["layer", "output", "params", "formula"]].to_string(index=False))
print("Keras count_params:", rgb_layer.count_params(), "| kernel shape:", tuple(rgb_layer.layers[0].kernel.shape))

# %% [markdown]
# ## 4. The pointwise ($1\times1$) convolution
#
# A $1\times1$ kernel sees one pixel, so it does no spatial filtering at all: it **mixes the
# channels** of each pixel, with the same weights everywhere. That is a matrix product, a
# `Dense` layer applied at every pixel:

# %%
x = rng.standard_normal((2, 5, 5, 192)).astype(np.float32)
w1x1 = rng.standard_normal((1, 1, 192, 32)).astype(np.float32)
conv_1x1 = tf.nn.conv2d(x, w1x1, 1, "VALID").numpy()
matmul = (x.reshape(-1, 192) @ w1x1.reshape(192, 32)).reshape(2, 5, 5, 32)
print("1x1 convolution == per-pixel matrix product:", np.allclose(conv_1x1, matmul, atol=1e-4))

# %% [markdown]
# Pointwise convolutions change the number of channels cheaply. Inception (GoogLeNet:
# Szegedy et al., 2015, *Going deeper with convolutions*) and ResNet (He et al., 2016,
# *Deep residual learning for image recognition*) use them as "bottlenecks" before expensive
# convolutions (GoogLeNet's block 3a reduces its 192 input channels to 96 before its
# $3\times3$ and to 16 before its $5\times5$ convolutions; a ResNet-50 bottleneck block
# reduces 256 channels to 64), and the depthwise-separable
# convolution of notebook 05 is a depthwise stage followed by a pointwise one. As an
# illustration, shrink 192 channels to 32 before a $3\times3$ convolution with 64 filters; the
# parameter (and multiply-accumulate) counts on a $28\times28$ map:

# %%
direct = params.parameter_table(["conv3same-64"], input_size=28, input_channels=192)
bottleneck = params.parameter_table(["conv1-32", "conv3same-64"], input_size=28, input_channels=192)
print(pd.concat([direct.assign(net="3x3 directly"), bottleneck.assign(net="1x1 to 32, then 3x3")])
      [["net", "layer", "params", "formula", "macs"]].to_string(index=False))
print(f"bottleneck / direct: {bottleneck.attrs['macs'] / direct.attrs['macs']:.2f} of the multiply-accumulates")

# %% [markdown]
# ## 5. Padding
#
# Without padding (`"valid"`) every $k\times k$ layer shrinks the map by $k-1$ pixels, so a
# deep stack quickly runs out of pixels, and a border pixel is read by fewer windows than a
# central one: the border is under-represented. Zero padding fixes both. The maps below
# count how many output values read each pixel of a $7\times7$ input (equivalently, the
# gradient that an all-ones convolution sends back to its input, notebook 07):

# %%
fig = plots.plot_coverage({"3x3, valid": dict(k=3), "3x3, padding 1": dict(k=3, p=1),
                           "1x1, stride 2": dict(k=1, s=2), "3x3, stride 2, padding 1": dict(k=3, s=2, p=1)})

# %% [markdown]
# Keras offers two paddings: `"valid"` (none) and `"same"` (output size $\lceil n/s\rceil$;
# for stride 1 the output has the input's size). For an odd kernel at stride 1, `"same"` is
# $p = (k-1)/2$ on each side. Otherwise TensorFlow pads
# $\max((\lceil n/s\rceil-1)s + k - n,\,0)$ zeros in all and puts the extra one at the
# **bottom / right**, so the padding can be asymmetric:

# %%
for n, k, s in [(5, 3, 1), (5, 3, 2), (8, 3, 2), (7, 4, 1)]:
    print(f"n={n}, k={k}, s={s}: 'same' pads (top, bottom) = {arithmetic.same_padding(n, k, s)},"
          f" output {arithmetic.conv_output_size(n, k, s, 'same')}")

x8 = rng.standard_normal((1, 8, 8, 1)).astype(np.float32)
w33 = rng.standard_normal((3, 3, 1, 1)).astype(np.float32)
tf_same = tf.nn.conv2d(x8, w33, 2, "SAME").numpy()
numpy_explicit, _ = ops.conv2d_forward(x8, w33, None, stride=2, padding=((0, 1), (0, 1)))
print("TensorFlow 'SAME' on 8x8, stride 2 == explicit padding (0, 1) on each axis:",
      np.allclose(tf_same, numpy_explicit, atol=1e-5))

# %% [markdown]
# (PyTorch's `padding=1` is always symmetric; the difference matters when you port weights
# between the two, and for where a unit's receptive field starts, notebook 02.)
#
# ## 6. Stride: when (not) to use it
#
# The notes ask two questions. **Why should we not use strides?**
#
# * A stride $s$ **throws resolution away**: the output has $s^2$ times fewer values. Dense
#   prediction (segmentation, super-resolution, denoising) needs an output per pixel and
#   must later undo every stride (transposed convolutions, notebook 04) or avoid it
#   (dilated convolutions, notebook 03).
# * If $s > k$ some pixels are **never read** (the red zeros of the $1\times1$, stride-2 map
#   above); if $k$ is not a multiple of $s$ the pixels are read **unevenly** (the 1-2-4
#   pattern of the $3\times3$, stride-2 map), the origin of checkerboard artefacts.
# * A strided layer **subsamples without low-pass filtering**: it aliases, and it is no
#   longer *shift-equivariant*. Shift the input by one pixel and a stride-1 output shifts
#   by one pixel; a stride-2 output changes:

# %%
img = rng.standard_normal((1, 12, 12, 1)).astype(np.float32)
kern = rng.standard_normal((3, 3, 1, 1)).astype(np.float32)
shifted = np.roll(img, 1, axis=2)                     # one pixel to the right (wrapping around)
for s in (1, 2):
    a = tf.nn.conv2d(img, kern, s, "SAME").numpy()
    b = tf.nn.conv2d(shifted, kern, s, "SAME").numpy()
    inner = slice(2, -2)                              # ignore the columns touched by the wrap-around
    same_after_shift = np.allclose(np.roll(a, 1, axis=2)[:, :, inner], b[:, :, inner], atol=1e-5)
    print(f"stride {s}: output of the shifted image == shifted output: {same_after_shift}")

# %% [markdown]
# With stride 1 a convolution is translation **equivariant**: shifting the input shifts the
# output by the same amount, $\mathrm{conv}(T_a x) = T_a\,\mathrm{conv}(x)$. It is not
# translation *invariant*, which would mean $\mathrm{conv}(T_a x) = \mathrm{conv}(x)$: the
# position of a feature is kept, not forgotten, and that is what lets a fully convolutional
# network label every pixel (notebook 08). H. Cha and K. Sohn's report *FCN and Dilated
# Convolutions* (DLLAB Week 5 pre-report, Yonsei University, undated) describes this property,
# "positioning information is not lost", but calls it "translation invariant"; the right word
# is equivariant. Invariance needs a layer that forgets position, such as global average
# pooling over the whole map.
#
# **Why, and when, should we use them?**
#
# * **Computation.** A stride-2 layer computes 4 times fewer outputs, and every layer after
#   it works on a map 4 times smaller. Early layers on large images pay the most, which is
#   why ResNet starts with a $7\times7$ convolution of stride 2.
# * **Receptive field.** After a stride $s$ every later kernel covers $s$ times more input
#   pixels (notebook 02): strides make a network see large objects with few layers.
# * **Learned downsampling.** A strided convolution can replace max-pooling (the
#   "all-convolutional" network of Springenberg et al., 2015, *Striving for simplicity: the
#   all convolutional net*; ResNet's downsampling blocks): it reduces resolution and learns how.
# * When the task does not need resolution: a classifier needs *what*, not *where*.
#
# The multiply-accumulate count of the same three layers on a $64\times64$ RGB image,
# without and with a stride of 2 in the first layer:

# %%
plain = params.parameter_table(["conv3same-32", "conv3same-64", "conv3same-64"], input_size=64, input_channels=3)
strided = params.parameter_table(["conv3s2same-32", "conv3same-64", "conv3same-64"], input_size=64, input_channels=3)
print(pd.DataFrame({"layer": ["1", "2", "3"], "output (no stride)": plain["output"].tolist(),
                    "MACs (no stride)": plain["macs"].tolist(), "output (stride 2 first)": strided["output"].tolist(),
                    "MACs (stride 2 first)": strided["macs"].tolist()}).to_string(index=False))
print(f"total: {plain.attrs['macs']:,} vs {strided.attrs['macs']:,} MACs "
      f"({plain.attrs['macs'] / strided.attrs['macs']:.0f} times fewer); the same "
      f"{plain.attrs['total']:,} parameters")

# %% [markdown]
# ### Pooling: downsampling without weights
#
# A **pooling** layer slides a window over each channel like a convolution but has no weights:
# **max pooling** keeps the largest value of each window, **average pooling** its mean. Every
# channel is pooled on its own, so the number of channels does not change, and the output size
# follows the formula of section 7 with $k$ the pool size and $s$ the stride (Keras' default
# stride is the pool size: non-overlapping windows). For the receptive field (notebook 02) a
# pooling window counts as a $k\times k$ layer of stride $s$; the backward passes come in
# notebook 07. **Global average pooling** (GAP) averages each channel over the whole map,
# $(H, W, C) \to C$: it forgets position, which makes the result invariant to shifts, and as a
# classifier's head it replaces Flatten + Dense with far fewer parameters.

# %%
x_pool = np.random.default_rng(1).standard_normal((1, 6, 6, 3))
for name, (k, s), ours, keras_layer in (
        ("max 2x2", (2, 2), ops.max_pool_forward(x_pool, 2)[0], keras.layers.MaxPooling2D(2)),
        ("average 2x2", (2, 2), ops.avg_pool_forward(x_pool, 2)[0], keras.layers.AveragePooling2D(2)),
        ("max 3x3, stride 2", (3, 2), ops.max_pool_forward(x_pool, 3, 2)[0], keras.layers.MaxPooling2D(3, 2))):
    theirs = keras_layer(x_pool.astype("float32")).numpy()
    print(f"{name}: 6x6x3 -> {ours.shape[1]}x{ours.shape[2]}x{ours.shape[3]} (formula: "
          f"{arithmetic.pool_output_size(6, k, s)}), equals Keras: {np.allclose(ours, theirs, atol=1e-6)}, "
          f"parameters: {keras_layer.count_params()}")
gap = keras.layers.GlobalAveragePooling2D()(x_pool.astype("float32")).numpy()
print("global average pooling: 6x6x3 ->", gap.shape[1:], "equals the mean over height and width:",
      np.allclose(gap, x_pool.mean(axis=(1, 2)), atol=1e-6))
flatten_head = params.parameter_table(["flatten", "dense-10"], input_size=7, input_channels=512)
gap_head = params.parameter_table(["gap", "dense-10"], input_size=7, input_channels=512)
print(f"a 10-class head on a 7x7x512 map: Flatten + Dense {flatten_head.attrs['total']:,} parameters, "
      f"GAP + Dense {gap_head.attrs['total']:,}")

# %% [markdown]
# ## 7. The output-size formula
#
# Along each axis, with $n_{in}$ input pixels, kernel $k$, padding $p$ and stride $s$:
#
# $$n_{out} = \left\lfloor \frac{n_{in} + 2p - k}{s} \right\rfloor + 1 .$$
#
# $n_{in}+2p$ is the padded length, $n_{in}+2p-k$ how far the window can travel, divided
# by the step $s$ (rounded down: a window that would stick out is dropped), plus one for the
# first position. The notes' three worked lines, written by `course_utils.arithmetic`, and
# the output shapes Keras builds for the same layers (explicit padding with `ZeroPadding2D`):

# %%
rows = []
for n, k, s, p in [(3, 3, 1, 0), (3, 3, 1, 1), (5, 3, 2, 1)]:
    model = keras.Sequential([keras.Input((n, n, 1)), keras.layers.ZeroPadding2D(p), keras.layers.Conv2D(1, k, strides=s)])
    rows.append({"n_in": n, "k": k, "s": s, "p": p, "worked line": plots.output_size_equation(n, k, s, p),
                 "arithmetic": arithmetic.conv_output_size(n, k, s, p), "Keras": model.output_shape[1]})
worked = pd.DataFrame(rows)
print(worked.to_string(index=False))
print("Keras agrees on every line:", bool((worked["arithmetic"] == worked["Keras"]).all()))

# %% [markdown]
# Read them as: a $3\times3$ kernel on a $3\times3$ input has one position; padding 1 gives
# it three positions per axis (the output keeps the input's size); and a stride of 2 on a
# padded $5\times5$ input gives three positions, the $3\times3$ output of section 1.
#
# ### The convolution arithmetic relationships
#
# Dumoulin & Visin's guide derives the formula in steps, each with a figure. The table
# reproduces their examples; `tf.nn.conv2d` (explicit padding) builds each one:

# %%
relationships = [
    ("1: no padding, unit stride", "o = i - k + 1", dict(i=4, k=3)),
    ("2: padding p, unit stride", "o = i - k + 2p + 1", dict(i=5, k=4, p=2)),
    ("3: half ('same') padding, p = floor(k/2)", "o = i", dict(i=5, k=3, p=1)),
    ("4: full padding, p = k - 1", "o = i + k - 1", dict(i=5, k=3, p=2)),
    ("5: no padding, stride s", "o = floor((i - k)/s) + 1", dict(i=5, k=3, s=2)),
    ("6: padding p, stride s", "o = floor((i + 2p - k)/s) + 1", dict(i=5, k=3, s=2, p=1)),
    ("6 again: a different i, the same o", "o = floor((i + 2p - k)/s) + 1", dict(i=6, k=3, s=2, p=1)),
    ("dilation d: k -> k + (k-1)(d-1)", "o = floor((i + 2p - k - (k-1)(d-1))/s) + 1", dict(i=7, k=3, d=2)),
]
rows = []
for name, formula, c in relationships:
    i, k, s, p, d = c["i"], c["k"], c.get("s", 1), c.get("p", 0), c.get("d", 1)
    tf_out = tf.nn.conv2d(tf.zeros((1, i, i, 1)), tf.zeros((k, k, 1, 1)), strides=s,
                          padding=[[0, 0], [p, p], [p, p], [0, 0]], dilations=d).shape[1]
    rows.append({"relationship": name, "formula": formula, "i": i, "k": k, "s": s, "p": p, "d": d,
                 "o (arithmetic)": arithmetic.conv_output_size(i, k, s, p, d), "o (TensorFlow)": tf_out})
arith_table = pd.DataFrame(rows)
arith_table

# %% [markdown]
# Relationship 3 is why odd kernels are the rule: $p=\lfloor k/2\rfloor$ keeps the size
# (see the `same_padding` exercise), and the kernel has a centre pixel. The two rows of
# relationship 6 show that with a stride, **different input sizes give the same output
# size** ($i=5$ and $i=6$ both give 3): the floor forgets the remainder. A transposed
# convolution, which goes back from 3 to the input size, therefore needs to be told which
# one (`output_padding`, notebook 04).

# %% [markdown]
# ## 8. The arguments of `Conv2D`
#
# The lecture lists PyTorch's signature,
# `Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True)`.
# Keras has the same arguments under other names:
#
# | PyTorch `Conv2d` | Keras `Conv2D` | meaning |
# |---|---|---|
# | `in_channels` | (read from the input) | $C_{in}$ |
# | `out_channels` | `filters` | $C_{out}$, the number of filters |
# | `kernel_size` | `kernel_size` | $k$ (an int or a pair) |
# | `stride` | `strides` | $s$ |
# | `padding` (int) | `padding="valid"` / `"same"` (or a `ZeroPadding2D` layer) | $p$ |
# | `dilation` | `dilation_rate` | $d$: taps $d$ pixels apart |
# | `groups` | `groups` | split channels into independent convolutions |
# | `bias` | `use_bias` | add $b$ per output channel |
#
# ### Dilation
#
# A dilated ("atrous") kernel inserts $d-1$ gaps between its taps: a $3\times3$ kernel with
# $d=2$ covers $5\times5$ pixels with the same 9 weights, $k_{eff} = d(k-1)+1$. It widens
# the view without more parameters or less resolution: notebook 03 is devoted to it.

# %%
xd = rng.standard_normal((1, 9, 9, 2)).astype(np.float32)
dilated = keras.layers.Conv2D(4, 3, dilation_rate=2, use_bias=False)
yd = dilated(xd).numpy()
yd_numpy, _ = ops.conv2d_forward(xd, dilated.kernel.numpy(), None, dilation=2)
print("kernel", tuple(dilated.kernel.shape), "spans", arithmetic.effective_kernel(3, 2), "pixels; Keras output",
      yd.shape[1:3])
print("output size:", plots.output_size_equation(9, 3, 1, 0, 2))
print("numpy (course_utils.ops) == Keras:", np.allclose(yd, yd_numpy, atol=1e-5))

# %% [markdown]
# ### Groups
#
# With `groups=g` the input channels are split into $g$ groups and each group of
# $C_{out}/g$ filters sees only its own $C_{in}/g$ channels: $g$ small convolutions side by
# side. The kernel becomes $(k, k, C_{in}/g, C_{out})$, so the parameters drop by a factor
# $g$ (and, the lecture adds, this has a regularising effect). AlexNet (Krizhevsky,
# Sutskever and Hinton, 2012) used two groups to split itself over two GPUs; with
# $g = C_{in}$ every filter sees one channel, the depthwise convolution of notebook 05.

# %%
xg = rng.standard_normal((1, 6, 6, 4)).astype(np.float32)
grouped = keras.layers.Conv2D(6, 3, groups=2, use_bias=False)
yg = grouped(xg).numpy()
wg = grouped.kernel.numpy()                          # (3, 3, 4/2, 6)
yg_numpy, _ = ops.conv2d_forward(xg, wg, None, groups=2)
halves = np.concatenate([tf.nn.conv2d(xg[..., :2], wg[..., :3], 1, "VALID").numpy(),
                         tf.nn.conv2d(xg[..., 2:], wg[..., 3:], 1, "VALID").numpy()], axis=-1)
print("kernel shape with groups=2:", wg.shape)
print("numpy (course_utils.ops) == Keras:", np.allclose(yg, yg_numpy, atol=1e-5))
print("== two separate convolutions, concatenated:", np.allclose(yg, halves, atol=1e-5))
for g in (1, 2, 4):
    t = params.parameter_table([{"kind": "conv", "kernel": 3, "filters": 8, "groups": g, "use_bias": False}],
                               input_size=6, input_channels=4)
    print(f"groups={g}: {t.loc[0, 'formula']}")

# %% [markdown]
# ## 9. Explorer
#
# Move the sliders: the summary shows the output size with the formula filled in, the
# figure the padded input (grey: padding) and, in blue, the taps the chosen output unit reads.
# Try a stride larger than the kernel, a dilation of 2, and an input size for which the
# floor drops the last row.

# %%
explorer = widgets.conv_arithmetic_explorer(input_size=5, kernel=3, stride=2, padding=1)
explorer

# %% [markdown]
# ## 10. Exercises
#
# Replace `None` with your answer and run the cell: the check says at once whether it is
# right, and gives a hint if not. Solutions are folded below each exercise.
#
# **1.** A $32\times32$ input, a $5\times5$ kernel, stride 2 and padding 2: how many rows
# does the output have?

# %%
answer = None
result = nb01.output_size.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# answer = (32 + 2 * 2 - 5) // 2 + 1     # or arithmetic.conv_output_size(32, 5, 2, 2)
# ```
# </details>
#
# **2.** `tf.nn.conv2d` computes a cross-correlation. Which kernel must you give it so that
# it computes the true convolution with `nb01.KERNEL`?

# %%
print(nb01.KERNEL)
answer = None
result = nb01.true_convolution.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# answer = nb01.KERNEL[::-1, ::-1]       # flipped along both axes (rotated by 180 degrees)
# ```
# </details>
#
# **3.** Write `same_padding(k)`: the padding that keeps an $n\times n$ input $n\times n$ at
# stride 1, for an odd kernel size $k$.

# %%
def same_padding(k):
    ...


answer = None  # replace with: answer = same_padding
result = nb01.same_padding.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def same_padding(k):
#     return (k - 1) // 2                # n = n + 2p - k + 1  gives  p = (k - 1) / 2
#
# answer = same_padding
# ```
# </details>
#
# **4.** How many parameters (weights and biases) does a $1\times1$ convolution from 256 to
# 64 channels have?

# %%
answer = None
result = nb01.pointwise_params.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# answer = 256 * 64 + 64                 # a weight per (input, output) channel pair, a bias per output
# ```
# </details>
#
# **5.** Give a `keras.layers.Conv2D` with $3\times3$ kernels that maps a $(32, 32, 16)$
# input to $(16, 16, 32)$.

# %%
answer = None
result = nb01.conv2d_layer.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# answer = keras.layers.Conv2D(32, 3, strides=2, padding="same")   # 'valid' would give 15x15
# ```
# </details>
#
#
# **6. Find the bug.** `nb01.buggy_output_size` below is meant to give $n_{out}$. Before you
# run the cell, predict what it prints for the notes' worked example ($n = 5$, $k = 3$,
# $s = 2$, $p = 1$); then find the bug and write the repaired function.

# %%
import inspect

print(inspect.getsource(nb01.buggy_output_size))
print("buggy_output_size(5, 3, s=2, p=1) =", nb01.buggy_output_size(5, 3, s=2, p=1),
      "  formula:", arithmetic.conv_output_size(5, 3, s=2, p=1))

# %%
def output_size(n, k, s=1, p=0):
    ...


answer = None  # replace with: answer = output_size
result = nb01.fix_output_size.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# The padding adds $p$ zeros on *both* sides, $2p$ along one axis; the buggy version adds one side only.
#
# ```python
# def output_size(n, k, s=1, p=0):
#     return (n + 2 * p - k) // s + 1
#
# answer = output_size
# ```
# </details>
#
# Next: notebook 02 follows a pixel's view through a whole stack of layers, its
# **receptive field**.
#
# ## What to remember
#
# * Deep-learning "convolution" is cross-correlation (no kernel flip); the notes' printed
#   output is the stride-1 result, not the stride-2 one.
# * A filter spans all input channels; a $1\times1$ convolution is a per-pixel matrix product.
# * $n_{out} = \lfloor (n + 2p - k_{eff})/s \rfloor + 1$ with $k_{eff} = d(k-1)+1$; padding is on both sides.
# * A stride saves computation at the price of resolution, even coverage and shift-equivariance.
# * Pooling (max, average) downsamples each channel without weights; global average pooling
#   keeps one number per channel and forgets position.
