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
# # 04 · Transposed convolution
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/04_transposed_convolution.ipynb)
#
# A classification network shrinks its input: a $224\times224$ image ends as a vector of class
# scores. Dense prediction (segmentation, super-resolution, generators) has to go the other way
# and produce an output *as large as* the input, or larger. The question of the course notes:
#
# > A $3\times3$ kernel on a $5\times5$ input gives $3\times3$. What do we do to get $7\times7$?
#
# This notebook answers it with the **transposed convolution** (also called "deconvolution",
# which it is not, or "fractionally strided convolution", which it is). You will
#
# * compute a transposed convolution three ways: as a **scatter** of kernel copies, as an ordinary
#   convolution over a **zero-inserted** input, and as the **transpose of a matrix**;
# * reproduce the lecture's $2\times2$ example exactly, in numpy and in Keras;
# * derive its **output size**, and why `output_padding` exists;
# * see where **checkerboard artifacts** come from and why *resize-then-convolve* avoids them.
#
# **Sources.** *The course notes* are the lecture notes *Advanced Convolutions, Batch
# Normalization and Receptive Field* (EIP4 course, Session 3). *The lecture* is AIL 862,
# Lecture 5 (slides on ResNet, DenseNet, MobileNet, segmentation and the transposed
# convolution).

# %%
# Open in Colab: https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/04_transposed_convolution.ipynb
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

import itertools

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from keras import layers

from course_utils import arithmetic, ops, plots, widgets
from course_utils.exercises import nb04

np.set_printoptions(precision=3, suppress=True)
keras.utils.set_random_seed(0)

# %% [markdown]
# ## 1. Upsampling
#
# The simplest way to enlarge a feature map has no parameters: **nearest-neighbour** upsampling
# repeats every pixel $s\times s$ times, **bilinear** upsampling interpolates between neighbours.
# Keras has both in `UpSampling2D`. Here is the $2\times2$ input we will use throughout:

# %%
X = np.array([[0.0, 1.0], [2.0, 3.0]])
x4 = X[None, :, :, None]  # NHWC: one image, one channel

print("nearest:\n", layers.UpSampling2D(2, interpolation="nearest")(x4).numpy()[0, :, :, 0])
print("bilinear:\n", layers.UpSampling2D(2, interpolation="bilinear")(x4).numpy()[0, :, :, 0])

# %% [markdown]
# Both are fixed recipes. A *learnable* upsampling layer should be able to learn the best way
# to spread each pixel over its neighbourhood. That is what a transposed convolution does.
#
# ## 2. Transposed convolution as a scatter
#
# An ordinary convolution **gathers**: every output pixel is a weighted sum of a window of
# inputs. A transposed convolution **scatters**: every input pixel $x_{ij}$ writes a copy of the
# kernel, scaled by $x_{ij}$, into the output, with its corner at $(s\,i,\; s\,j)$; where copies
# overlap they add up:
#
# $$ Y[s\,i + a,\; s\,j + b] \mathrel{+}= X[i, j]\; K[a, b] \qquad
#    \text{for all } i, j \text{ (input) and } a, b \text{ (kernel)}. $$
#
# The lecture's example: the $2\times2$ input $X$ above, stride $2$, and two kernels
# $K_1 = \begin{pmatrix}0&1\\2&3\end{pmatrix}$ and $K_2 = \begin{pmatrix}4&1\\2&3\end{pmatrix}$.
# First the formula, literally, as a loop:

# %%
K1 = np.array([[0.0, 1.0], [2.0, 3.0]])
K2 = np.array([[4.0, 1.0], [2.0, 3.0]])
stride = 2


def scatter_loop(x, k, s):
    """The scatter formula above, one input pixel at a time (one channel, no padding)."""
    n, m = x.shape[0], k.shape[0]
    y = np.zeros(((n - 1) * s + m, (n - 1) * s + m))
    for i, j in itertools.product(range(n), range(n)):
        y[s * i:s * i + m, s * j:s * j + m] += x[i, j] * k
    return y


for name, K in (("K1", K1), ("K2", K2)):
    print(f"X transposed-convolved with {name}, stride 2:\n{scatter_loop(X, K, stride).astype(int)}")

# %% [markdown]
# These are exactly the two $4\times4$ outputs of the lecture. Drawn as four scaled copies of
# $K_1$ and their sum (here the copies do not overlap, because the kernel is as large as the stride):

# %%
plots.plot_scatter(X, K1, stride=2)
plt.show()

# %% [markdown]
# ### The same in Keras and with `course_utils.ops`
#
# The lecture computed this with PyTorch's `ConvTranspose2d`. In Keras the layer is
# `Conv2DTranspose`, and its kernel has the layout `(kh, kw, C_out, C_in)`: the last two axes
# are swapped with respect to `Conv2D`'s `(kh, kw, C_in, C_out)`. The reason is in section 4:
# the kernel is the kernel of the convolution being transposed, which maps the $C_{out}$
# channels back to $C_{in}$. With one channel in and out, `K[:, :, None, None]` fits either way.
# `course_utils.ops.conv2d_transpose_forward` uses the Keras layout.

# %%
def keras_transposed(x, k, s, padding="valid", output_padding=None):
    """One-channel Conv2DTranspose without bias, its kernel set to k."""
    layer = layers.Conv2DTranspose(1, k.shape[0], strides=s, padding=padding,
                                   output_padding=output_padding, use_bias=False)
    layer.build((None, *x.shape, 1))
    layer.set_weights([k[:, :, None, None]])
    return layer(x[None, :, :, None]).numpy()[0, :, :, 0]


for name, K in (("K1", K1), ("K2", K2)):
    by_keras = keras_transposed(X, K, stride)
    by_ops, _ = ops.conv2d_transpose_forward(x4, K[:, :, None, None], None, stride=stride)
    print(f"{name}: loop == Keras: {np.array_equal(scatter_loop(X, K, stride), by_keras)}, "
          f"loop == ops: {np.array_equal(scatter_loop(X, K, stride), by_ops[0, :, :, 0])}")

# %% [markdown]
# With stride 1 the same input and kernel give the example of A. Zhang, Z. C. Lipton, M. Li
# and A. J. Smola, *Dive into Deep Learning* (2023), §14.10 ("d2l"): the copies now start one
# pixel apart, so they **overlap** and the output is $(2-1)\cdot1 + 2 = 3$ pixels wide. The
# centre pixel receives one product from
# each of the four copies, $X_{00}K_{11} + X_{01}K_{10} + X_{10}K_{01} + X_{11}K_{00} =
# 0\cdot3 + 1\cdot2 + 2\cdot1 + 3\cdot0 = 4$; a corner receives one product only
# ($Y_{22} = X_{11}K_{11} = 3\cdot3 = 9$), an edge pixel two ($Y_{21} = X_{10}K_{11} + X_{11}K_{10}
# = 2\cdot3 + 3\cdot2 = 12$). The whole output is d2l's
# $\begin{pmatrix}0&0&1\\0&4&6\\4&12&9\end{pmatrix}$. The loop, `course_utils.ops` and Keras agree:

# %%
overlapping = scatter_loop(X, K1, 1)
by_ops_s1, _ = ops.conv2d_transpose_forward(x4, K1[:, :, None, None], None, stride=1)
print("X transposed-convolved with K1, stride 1:\n", overlapping.astype(int))
print("loop == ops:", np.array_equal(overlapping, by_ops_s1[0, :, :, 0]),
      " loop == Keras:", np.array_equal(overlapping, keras_transposed(X, K1, 1)))
fig = plots.plot_scatter(X, K1, stride=1)
plt.show()

# %% [markdown]
# ## 3. The same thing as an ordinary convolution
#
# Look at output pixel $Y[o]$ along one axis: it receives $X[i]\,K[a]$ for every $i, a$ with
# $s\,i + a = o$. Insert $s-1$ zeros between the input pixels, so that $X[i]$ sits at position
# $s\,i$, pad with $k-1$ zeros on both sides, and slide the kernel **rotated by $180°$** over
# it with stride 1: at every position the rotated kernel meets exactly the pairs with
# $s\,i + a = o$. So
#
# $$ \text{transposed conv}(X, K, s) \;=\; \text{conv}\big(\text{pad}_{k-1}(\text{zeros-inserted}_s(X)),\; \text{rot}_{180}(K),\; \text{stride } 1\big). $$
#
# With $s = 2$ the kernel moves half an input pixel per output pixel: a convolution with
# stride $\tfrac12$, hence "fractionally strided". (Padding $p$ in the transposed
# convolution pads $k - 1 - p$ instead of $k-1$.) It is also the "simple approach, but
# inefficient" of the course notes: most of the multiplications are with inserted zeros.

# %%
for name, K in (("K1", K1), ("K2", K2)):
    grid = np.pad(plots.insert_zeros(X, stride), K.shape[0] - 1)
    as_conv, _ = ops.conv2d_forward(grid[None, :, :, None], K[::-1, ::-1, None, None], None)
    print(f"{name}: zero-inserted convolution == scatter: {np.array_equal(as_conv[0, :, :, 0], scatter_loop(X, K, stride))}")

# %%
plots.plot_zero_insertion(X, K1, stride=2)
plt.show()

# %% [markdown]
# The notes' question has its answer: a $3\times3$ transposed convolution with stride 1
# takes $5\times5$ to $(5-1) + 3 = 7$, i.e. $7\times7$; as an ordinary convolution it is
# the $5\times5$ input padded by $2$ on each side ($9\times9$) convolved with a $3\times3$ kernel.

# %%
print("5x5 --3x3 transposed conv, stride 1-->", arithmetic.transposed_conv_output_size(5, 3), "x",
      arithmetic.transposed_conv_output_size(5, 3))
print("5x5 padded by 2 --3x3 conv-->", arithmetic.conv_output_size(5, 3, p=2))

# %% [markdown]
# ## 4. Why "transposed": the matrix view
#
# A convolution is linear, so flattening its input and output turns it into a matrix product
# $y = C\,x$. Build $C$ for the convolution that maps a $4\times4$ image to $2\times2$ with the
# $2\times2$ kernel $K_1$ and stride 2, column by column, by convolving the 16 basis images:

# %%
basis = np.eye(16).reshape(16, 4, 4, 1)
conv_of_basis, _ = ops.conv2d_forward(basis, K1[:, :, None, None], None, stride=2)
C = conv_of_basis.reshape(16, 4).T  # column j = C @ e_j
print("C has shape", C.shape, "(4 outputs x 16 inputs)")
print(C.astype(int))

# %% [markdown]
# $C^\top$ maps 4 values back to 16: it is exactly the transposed convolution. Since $y = C\,x$,
# $C^\top$ is also what the backward pass of the convolution applies to the gradient of its output,
# $\partial L/\partial x = C^\top\,\partial L/\partial y$; that is how TensorFlow computes `Conv2DTranspose`
# (`tf.nn.conv2d_transpose` is `conv2d_backprop_input`). Notebook 07 derives that backward pass and
# checks this identity numerically (section 10).

# %%
from_matrix = (C.T @ X.ravel()).reshape(4, 4)
print("C^T x == scatter:", np.array_equal(from_matrix, scatter_loop(X, K1, 2)))

# %% [markdown]
# *Transposed* is not *inverse*: $C\,C^\top x \ne x$ in general, so a transposed convolution
# restores the **shape** of the convolution's input, not its values. Here the copies do not
# overlap and $C\,C^\top$ happens to be $\lVert K_1\rVert^2$ times the identity:

# %%
print("C C^T =\n", C @ C.T)
print("||K1||^2 =", (K1 ** 2).sum())

# %% [markdown]
# ## 5. Output size and `output_padding`
#
# Along one axis, $n$ input pixels scatter copies that start $s$ apart, the last one at
# $(n-1)s$, and each is $k$ long. Padding $p$ (PyTorch's convention) crops $p$ pixels from each
# side, and `output_padding` adds pixels at the end:
#
# $$ n_{out} = (n - 1)\,s + k - 2p + \text{output\_padding}. $$
#
# It is the output-size formula of the convolution, $n = \lfloor (n_{out} + 2p - k)/s \rfloor + 1$,
# solved for $n_{out}$. The floor is why `output_padding` exists: a stride-$s$ convolution maps
# $s$ different input sizes to the same output size, and the transposed convolution must be
# told which one to return.

# %%
for n in (7, 8):
    print(f"conv k=3, s=2, p=1: {n} -> {arithmetic.conv_output_size(n, 3, s=2, p=1)}")
for op in (0, 1):
    print(f"transposed conv k=3, s=2, p=1, output_padding={op}: 4 -> "
          f"{arithmetic.transposed_conv_output_size(4, 3, s=2, p=1, output_padding=op)}")

# %% [markdown]
# Keras takes `padding="valid"` or `"same"` instead of a number:
#
# * `"valid"`: $p = 0$, so $n_{out} = (n-1)s + k + \text{output\_padding}$; without
#   `output_padding`, Keras uses $(n-1)s + \max(k, s)$;
# * `"same"`: $n_{out} = n\,s$ (the inverse of a `"same"` convolution's $\lceil n/s\rceil$); with
#   `output_padding` given it is $(n - 1)s + (k \bmod 2) + \text{output\_padding}$.
#
# `course_utils.arithmetic.transposed_conv_output_size` implements all of these. Let Keras
# check it on every combination of small sizes, kernels, strides, paddings and output paddings:

# %%
checked, empty, disagree = 0, 0, []
for n, k, s, padding in itertools.product(range(1, 6), range(1, 6), range(1, 4), ("valid", "same")):
    for op in [None, *range(s)]:
        layer = layers.Conv2DTranspose(1, k, strides=s, padding=padding, output_padding=op)
        keras_size = layer.compute_output_shape((1, n, n, 1))[1]
        try:
            ours = arithmetic.transposed_conv_output_size(n, k, s, padding, op)
        except ValueError:  # no output pixel left: the formula refuses, Keras returns size 0
            ours = 0
            empty += 1
        checked += 1
        if keras_size != ours:
            disagree.append((n, k, s, padding, op, keras_size, ours))
print(f"{checked} configurations, formula == Keras for all: {not disagree}")
print(f"({empty} of them leave no output at all: Keras returns size 0, the formula raises an error)")

# %% [markdown]
# And the shapes the numpy layer really produces agree with Keras' layer on a few of them:

# %%
rng = np.random.default_rng(0)
rows = []
for n, k, s, padding, op in [(4, 3, 2, "same", None), (4, 3, 2, "same", 0), (4, 3, 2, "valid", None),
                             (3, 4, 2, "same", 1), (5, 2, 3, "valid", 2)]:
    x = rng.standard_normal((1, n, n, 2)).astype("float32")
    w = rng.standard_normal((k, k, 3, 2)).astype("float32")  # (kh, kw, C_out, C_in)
    layer = layers.Conv2DTranspose(3, k, strides=s, padding=padding, output_padding=op, use_bias=False)
    layer.build(x.shape)
    layer.set_weights([w])
    y_keras = layer(x).numpy()
    y_ops, _ = ops.conv2d_transpose_forward(x, w, None, stride=s, padding=padding, output_padding=op)
    rows.append({"layer": f"n={n}, k={k}, s={s}, {padding}, output_padding={op}",
                 "formula": arithmetic.transposed_conv_output_size(n, k, s, padding, op),
                 "Keras": "x".join(map(str, y_keras.shape[1:3])), "ops": "x".join(map(str, y_ops.shape[1:3])),
                 "same values": bool(np.allclose(y_keras, y_ops, atol=1e-4))})
pd.DataFrame(rows).set_index("layer")

# %% [markdown]
# ### Dumoulin & Visin's table: every transposed convolution is a stride-1 convolution
#
# Dumoulin & Visin (2016, *A guide to convolution arithmetic for deep learning*, section 4)
# write the transpose of a direct convolution with input $i$, kernel $k$, stride $s$ and
# padding $p$ (output $o = \lfloor (i + 2p - k)/s \rfloor + 1$) as an ordinary convolution
# with $k' = k$ and $s' = 1$ over its input $i' = o$ **stretched** by $s-1$ zeros between
# neighbours, $\tilde\imath' = i' + (s-1)(i'-1)$, padded by $p' = k - p - 1$ zeros on the left and
# $p' + a$ on the right, where
#
# $$ a = (i + 2p - k) \bmod s, \qquad
#    o' = s\,(i' - 1) + a + k - 2p \;=\; i \quad \text{(their relationship 14)}. $$
#
# Their special cases: no padding and unit strides, $p' = k - 1$, $o' = i' + (k-1)$
# (relationship 8); zero padding, $p' = k - p - 1$, $o' = i' + (k-1) - 2p$ (9); half padding,
# $p' = p$, $o' = i'$ (10); full padding $p = k - 1$, $p' = 0$, $o' = i' - (k-1)$ (11);
# non-unit strides, $o' = s\,(i'-1) + k - 2p$ when $s$ divides $i + 2p - k$ (12, 13); and $a > 0$
# otherwise (14). The table computes each of their examples with `course_utils.arithmetic` and, in
# the same loop, lets Keras' `Conv2DTranspose` check the size and the values. Keras has no
# integer padding for this layer, so the check runs it with `"valid"` and `output_padding=a` and
# crops $p$ pixels from each side (PyTorch's integer `padding` does exactly that crop).

# %%
rng = np.random.default_rng(1)
cases = [("no padding, unit strides", 4, 3, 1, 0), ("zero padding", 5, 4, 1, 2),
         ("half (same) padding", 5, 3, 1, 1), ("full padding", 5, 3, 1, 2),
         ("no padding, non-unit strides", 5, 3, 2, 0), ("padding, non-unit strides", 5, 3, 2, 1),
         ("padding, non-unit strides, a > 0", 6, 3, 2, 1)]
rows = []
for case, i, k, s, p in cases:
    o = arithmetic.conv_output_size(i, k, s, p)
    a = arithmetic.transposed_output_padding(i, k, s, p)
    stretched, (left, right) = arithmetic.transposed_as_conv(o, k, s, p, a)
    o_t = arithmetic.conv_output_size(stretched, k, 1, (left, right))
    # Keras: Conv2DTranspose on an o x o input, 'valid' with output_padding=a, cropped by p
    x = rng.standard_normal((o, o))
    w = rng.standard_normal((k, k))
    y = keras_transposed(x, w, s, output_padding=a if s > 1 else None)
    y = y[p:y.shape[0] - p, p:y.shape[1] - p]
    # the stride-1 convolution of the table, kernel rotated by 180 degrees
    grid = np.pad(plots.insert_zeros(x, s), (left, right))
    z, _ = ops.conv2d_forward(grid[None, :, :, None], w[::-1, ::-1, None, None], None)
    rows.append({"case": case, "i": i, "k": k, "s": s, "p": p, "o": o,
                 "i'": o, "stretched": stretched, "k'": k, "s'": 1, "p' (left, right)": (left, right),
                 "a": a, "o'": o_t, "o' == i": o_t == i, "Keras size": y.shape[0],
                 "same values": bool(np.allclose(z[0, :, :, 0], y, atol=1e-4))})
table = pd.DataFrame(rows).set_index("case")
print("Keras' size == o' in every row:", bool((table["Keras size"] == table["o'"]).all()))
table

# %% [markdown]
# ### Exercises
#
# **Exercise 1.** `nb04.SIZE_CASE` gives $n, k, s, p$ and `output_padding` (PyTorch-style integer
# padding). What is the output side?

# %%
print(nb04.SIZE_CASE)
answer = None  # your answer: an int
_ = nb04.output_size.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# $(5-1)\cdot 2 + 3 - 2\cdot 1 + 1 = 10$, so `answer = 10`.
# </details>
#
# **Exercise 2.** `Conv2DTranspose(kernel_size=3, strides=2, padding="same")` turns a $4\times4$
# input into $8\times8$. Which `output_padding` makes it return $7\times7$ instead (the size of
# the image that a stride-2 `"same"` convolution reduced to $4\times4$)?

# %%
answer = None  # your answer: an int
_ = nb04.same_output_padding.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# $(4-1)\cdot2 + (3 \bmod 2) + \text{output\_padding} = 7$ gives `answer = 0`.
# </details>
#
# **Exercise 3.** By hand (then check with code if you like): the transposed convolution, stride 1,
# no padding, of `nb04.SCATTER_X` with `nb04.SCATTER_K`.

# %%
print("X =\n", nb04.SCATTER_X, "\nK =\n", nb04.SCATTER_K)
answer = None  # your answer: a 2-D array
_ = nb04.scatter.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Four $2\times2$ copies, shifted by one pixel each, add up to a $3\times3$ array:
# `answer = np.array([[1, 1, -2], [2, 5, -1], [0, 2, 0]])`.
# </details>
#
# **Exercise 4.** What is the shape of the kernel of `Conv2DTranspose(filters=8, kernel_size=3)`
# applied to a 16-channel input?

# %%
answer = None  # your answer: a tuple of four ints
_ = nb04.keras_kernel_shape.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# `answer = (3, 3, 8, 16)`: `(kh, kw, C_out, C_in)`, the kernel of the $8 \to 16$ convolution
# that this layer transposes.
# </details>
#
# ## 6. Checkerboard artifacts
#
# The course notes warn that the transposed convolution "introduces the checkerboard issue".
# The reason is in the scatter picture (Odena, Dumoulin & Olah, *Deconvolution and Checkerboard
# Artifacts*, 2016). Along one axis the copies start every $s$ pixels and are $k$ long, so an
# output pixel is covered by $\lceil k/s\rceil$ or $\lfloor k/s\rfloor$ copies. When $k$ is
# **not a multiple of $s$** the two numbers differ, and in 2-D the counts multiply. Feed a
# constant image through a $3\times3$, stride-2 transposed convolution with an all-ones kernel:

# %%
print(plots.overlap_map(4, 3, 2))

# %% [markdown]
# Neighbouring output pixels receive 1, 2 or 4 inputs: a bright grid on a constant image.
# With $k = 4$ or $k = 2$ (multiples of the stride) the interior is even:

# %%
plots.plot_overlap_maps({"k=3, s=2": dict(k=3, s=2), "k=4, s=2": dict(k=4, s=2),
                         "k=2, s=2": dict(k=2, s=2), "k=5, s=2": dict(k=5, s=2)}, n=4)
plt.show()

# %% [markdown]
# Even overlap is not the whole story. With a constant input, output pixel $o$ receives the sum
# of the kernel taps $a$ with $a \equiv o \pmod s$: one sum per *phase*. The output is flat only
# if all phases sum to the same value. With uneven overlap the phases have different numbers of
# taps and the weights must compensate exactly (the bilinear kernel $[\tfrac12, 1, \tfrac12]$
# does); with even overlap a balanced kernel is natural, but a network still has to learn it.
# A randomly initialised layer does neither, whatever $k$.
#
# **Resize-then-convolve** (nearest-neighbour upsampling followed by an ordinary convolution)
# has no phases at all: every output pixel is computed the same way, so a constant image stays
# constant away from the borders *for any weights*. Compare the three on a constant $8\times8$
# image, with random (seeded) weights:

# %%
flat = np.ones((1, 8, 8, 1), dtype="float32")
init = keras.initializers.GlorotUniform(seed=1)
upsamplers = {
    "transposed 3x3, s=2": keras.Sequential([layers.Conv2DTranspose(1, 3, strides=2, padding="same",
                                                                    kernel_initializer=init)]),
    "transposed 4x4, s=2": keras.Sequential([layers.Conv2DTranspose(1, 4, strides=2, padding="same",
                                                                    kernel_initializer=init)]),
    "resize + conv 3x3": keras.Sequential([layers.UpSampling2D(2, interpolation="nearest"),
                                           layers.Conv2D(1, 3, padding="same", kernel_initializer=init)]),
}
outputs = {name: model(flat).numpy()[0, :, :, 0] for name, model in upsamplers.items()}
for name, y in outputs.items():
    interior = y[2:-2, 2:-2]
    print(f"{name:20s} -> {y.shape[0]}x{y.shape[1]}, interior flat: {bool(np.ptp(interior) < 1e-5 * np.abs(interior).max())}")

# %%
plots.plot_image_row(outputs, title="a constant image upsampled with random weights")
plt.show()

# %% [markdown]
# The phase argument, checked: a $3\times3$ stride-2 transposed convolution with the bilinear
# kernel $[\tfrac12, 1, \tfrac12]\otimes[\tfrac12, 1, \tfrac12]$ has uneven overlap, but each
# phase's taps sum to 1, so a constant image stays flat (this kernel *is* bilinear upsampling;
# the fully convolutional networks of notebook 08 initialise their upsampling layers this way).

# %%
bilinear = np.outer([0.5, 1.0, 0.5], [0.5, 1.0, 0.5])
y = keras_transposed(np.ones((8, 8)), bilinear, 2, padding="same")
print("bilinear kernel, interior values:", np.unique(y[2:-2, 2:-2]))

# %% [markdown]
# On a smooth image the difference is the same: the transposed convolutions print their
# phase pattern over the picture, resize-then-convolve blurs but adds no grid.

# %%
r = np.hypot(*np.meshgrid(np.linspace(-1, 1, 12), np.linspace(-1, 1, 12)))
disc = np.clip(1.5 - 2 * r, 0, 1).astype("float32")[None, :, :, None]
plots.plot_image_row({"input 12x12": disc[0, :, :, 0],
                      **{name: model(disc).numpy()[0, :, :, 0] for name, model in upsamplers.items()}},
                     title="a smooth disc upsampled (random weights)")
plt.show()

# %% [markdown]
# **Exercise 5.** Which (kernel, stride) pairs of `nb04.PAIRS` give every interior output pixel
# the same number of inputs? Use the explorer below to test your idea.

# %%
print(nb04.PAIRS)
answer = None  # your answer: a set of letters, e.g. {"A"}
_ = nb04.even_overlap.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Even overlap needs $k$ to be a multiple of $s$: `answer = {"B", "C", "E"}`
# ($4/2$, $2/2$, $3/3$). $(6, 4)$ is uneven: copies 6 long starting every 4 pixels cover
# pixels once or twice.
# </details>
#
# ## 7. Explorer
#
# Move the sliders: the summary shows the output-size formula with your numbers, the figure how
# many input pixels write into each output pixel. Try $k=3, s=2$ against $k=4, s=2$, and see
# what padding and `output_padding` do to the borders.

# %%
widgets.transposed_conv_explorer(size=4, kernel=3, stride=2)

# %% [markdown]
#
# **Exercise 6 (find the bug).** `nb04.buggy_transposed_size` is meant to give the output length of a
# transposed convolution. Predict what it gives for the lecture's $2\times2 \to 4\times4$ example
# ($k = 2$, $s = 2$), run the cell, then find the bug and write the repaired function.

# %%
import inspect

print(inspect.getsource(nb04.buggy_transposed_size))
print("buggy_transposed_size(2, 2, s=2) =", nb04.buggy_transposed_size(2, 2, s=2),
      "  Keras:", layers.Conv2DTranspose(1, 2, strides=2)(np.zeros((1, 2, 2, 1), "float32")).shape[1])

# %%
def transposed_size(n, k, s=1, p=0):
    ...


answer = None  # replace with: answer = transposed_size
result = nb04.fix_transposed_size.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# The $n$ copies start $s$ pixels apart, so the last one starts at $(n-1)s$, not $ns$:
#
# ```python
# def transposed_size(n, k, s=1, p=0):
#     return (n - 1) * s + k - 2 * p
#
# answer = transposed_size
# ```
# </details>
#
# ## What to remember
#
# * A transposed convolution scatters a scaled copy of the kernel per input pixel, $s$ apart;
#   it is the backward pass (the $C^\top$) of a convolution, not its inverse.
# * $n_{out} = (n-1)s + k - 2p + \text{output\_padding}$; Keras' kernel layout is `(kh, kw, C_out, C_in)`.
# * When $k$ is not a multiple of $s$ the copies overlap unevenly: a checkerboard.
# * Remedies: resize then convolve, or $k$ divisible by $s$ with a bilinear initialisation.
