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
# # 05 · Depthwise-separable, spatially separable and grouped convolutions
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/05_depthwise_separable.ipynb)
#
# A standard convolution does two jobs in one operation: it filters **space** (which
# pattern around each pixel) and it mixes **channels** (which input features combine into
# each output feature). Xception (F. Chollet, 2017, *Xception: Deep learning with depthwise
# separable convolutions*) and MobileNet (Howard et al., 2017; section 4 below) split the two jobs
# into two cheaper layers, a *depthwise* and a *pointwise* convolution, and pay
# a small price in accuracy for a large saving in parameters and computation. (Both apply the
# depthwise stage first. MobileNet puts batch normalisation and a ReLU after each stage;
# Xception puts no non-linearity between the two, which its paper found works better. The
# "extreme Inception" module that motivates Xception runs the $1\times1$ stage first, an order
# that matters little in a deep stack.)
#
# **Batch normalisation** (BN), in one line until notebook 06 teaches it: a layer that standardises
# each channel with the mean and variance of the current batch, then scales and shifts it with two
# learned numbers per channel, and keeps two running statistics per channel for inference (four
# numbers per channel in all).
#
# In this notebook you will
#
# * see why a standard convolution costs $k^2 C_\text{in} C_\text{out}$ weights, and what
#   the depthwise-separable factorisation gives up to cost $k^2 C_\text{in} + C_\text{in} C_\text{out}$;
# * count parameters and multiply-accumulates (MACs) of the notes' example
#   ($16 \to 32$ channels, $3\times3$: **4608 vs 656** parameters) and check them against Keras;
# * derive MobileNet's **reduction factor** $\frac{1}{N} + \frac{1}{D_K^2}$ (the question
#   "Reduction factor - ?" of AIL 862) and check it against counted MACs;
# * verify that Keras' `SeparableConv2D` *is* a `DepthwiseConv2D` followed by a $1\times1$
#   `Conv2D`, and that the course's numpy version matches TensorFlow;
# * meet the two relatives: **spatially separable** ($3\times1$ then $1\times3$) and
#   **grouped** convolutions;
# * train standard and separable networks of several widths on real images and compare
#   accuracy against parameters.
#
# **Sources.** *The notes* are the lecture notes *Advanced Convolutions, Batch Normalization
# and Receptive Field* (EIP4 course, Session 3); the question "Reduction factor - ?" comes from
# the slides of AIL 862, Lecture 5.

# %%
# Open in Colab: https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/05_depthwise_separable.ipynb
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
from keras import layers

from course_utils import config, experiments, ops, params, plots, widgets
from course_utils.exercises import nb05

np.set_printoptions(precision=4, suppress=True)
pd.set_option("display.width", 120)

# %% [markdown]
# ## 1. A standard convolution mixes space and channels at once
#
# A `Conv2D` layer with a $k\times k$ kernel maps an input with $C_\text{in}$ channels to
# $C_\text{out}$ channels. Every output value reads a $k \times k \times C_\text{in}$ block:
#
# $$
# \text{out}[y, x, o] \;=\; b_o + \sum_{i=0}^{k-1}\sum_{j=0}^{k-1}\sum_{c=0}^{C_\text{in}-1}
#     \text{in}[y+i,\, x+j,\, c]\; W[i, j, c, o].
# $$
#
# The weight $W[i, j, c, o]$ couples one spatial offset $(i, j)$ with one pair of
# channels $(c, o)$: for every input–output pair the layer learns a separate $k\times k$
# spatial pattern. That is where the cost comes from,
#
# $$
# \text{params} = k^2\, C_\text{in}\, C_\text{out} \;(+\,C_\text{out}\text{ biases}),
# \qquad
# \text{MACs} = H_\text{out} W_\text{out}\; k^2\, C_\text{in}\, C_\text{out},
# $$
#
# one multiply-accumulate per weight per output position. This is the answer to the
# notes' "What is wrong in this convolution?": nothing is *wrong*, but its
# $C_\text{in} C_\text{out}$ spatial filters are largely redundant, and we pay for all of them.
# The notes' layer, $16 \to 32$ channels with a $3\times3$ kernel, in Keras:

# %%
standard = layers.Conv2D(32, 3, use_bias=False)
standard.build((None, 8, 8, 16))
print("kernel shape (kh, kw, C_in, C_out):", tuple(standard.kernel.shape))
print("parameters:", standard.count_params())

# %% [markdown]
# ## 2. Depthwise, then pointwise
#
# The **depthwise-separable** convolution splits the two jobs.
#
# 1. **Depthwise** ($k\times k$, one filter per input channel): filters space, never mixes channels,
#    $\;\text{mid}[y,x,c] = \sum_{i,j} \text{in}[y+i, x+j, c]\; D[i, j, c]$.
# 2. **Pointwise** ($1\times1$): mixes channels, never looks at neighbours,
#    $\;\text{out}[y,x,o] = b_o + \sum_{c} \text{mid}[y,x,c]\; P[c, o]$.
#
# Substituting the first into the second shows what the factorisation gives up:
#
# $$
# \text{out}[y,x,o] = b_o + \sum_{i,j,c} \text{in}[y+i, x+j, c]\;\underbrace{D[i,j,c]\,P[c,o]}_{W[i,j,c,o]}.
# $$
#
# A separable layer *is* a standard convolution, but one whose kernel is constrained: for each
# input channel $c$, the $C_\text{out}$ spatial filters $W[:,:,c,o]$ are all multiples of one
# $k\times k$ pattern $D[:,:,c]$. The numpy layers of `course_utils.ops` confirm it: a separable
# convolution gives the same output as a standard one with the kernel $W = D \cdot P$.

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 8, 8, 16))
depthwise_w = rng.standard_normal((3, 3, 16, 1))   # (kh, kw, C_in, multiplier)
pointwise_w = rng.standard_normal((1, 1, 16, 32))  # (1, 1, C_in * multiplier, C_out)

separable_out, _ = ops.separable_conv2d_forward(x, depthwise_w, pointwise_w, padding="same")
full_kernel = depthwise_w[:, :, :, 0, None] * pointwise_w[0, 0][None, None, :, :]  # W[i,j,c,o] = D[i,j,c] P[c,o]
standard_out, _ = ops.conv2d_forward(x, full_kernel, None, padding="same")
print("equivalent kernel shape:", full_kernel.shape)
print("same output as the standard convolution with W = D * P:", np.allclose(separable_out, standard_out))

# %% [markdown]
# Which channels talk to which? In a standard convolution every output channel reads every
# input channel; in the depthwise stage each channel reads only itself; the pointwise stage
# restores full mixing, with one weight per pair instead of $k^2$. (Grouped convolutions, in
# between, come in section 7.)

# %%
plots.plot_channel_connectivity(c_in=8, c_out=8, groups=(1,))
plt.show()

# %% [markdown]
# ## 3. Counting: 4608 vs 656 parameters
#
# For the notes' example the depthwise stage has $3\cdot3\cdot16 = 144$ weights and the
# pointwise stage $16\cdot32 = 512$. `params.compare_standard_vs_separable` counts both layers
# with the formulas of `course_utils.params` (the same code that counts any Keras model), and,
# given the output size (here $8\times8$), their MACs:

# %%
notes_example = params.compare_standard_vs_separable(16, 32, 3, size=8)
print(notes_example)
notes_example.table()

# %% [markdown]
# The notes' numbers, **4608** and **656**, leave the biases out. Keras layers have biases
# by default; here are both versions, counted by Keras itself, next to our formulas:

# %%
def keras_params(layer, c_in=16, size=8):
    model = keras.Sequential([keras.Input((size, size, c_in)), layer])
    return model.count_params()


rows = []
for use_bias in (False, True):
    ours = params.compare_standard_vs_separable(16, 32, 3, use_bias=use_bias)
    rows.append({
        "biases": use_bias,
        "standard (ours)": ours.standard,
        "standard (Keras)": keras_params(layers.Conv2D(32, 3, use_bias=use_bias)),
        "separable (ours)": ours.separable,
        "separable (Keras)": keras_params(layers.SeparableConv2D(32, 3, use_bias=use_bias)),
    })
counts = pd.DataFrame(rows)
assert (counts["standard (ours)"] == counts["standard (Keras)"]).all()
assert (counts["separable (ours)"] == counts["separable (Keras)"]).all()
counts

# %% [markdown]
# With biases both layers gain $C_\text{out} = 32$: 4640 vs 688. `parameter_table` shows the
# formula behind every count of a whole model, and the MACs of one forward pass:

# %%
pair = keras.Sequential([keras.Input((8, 8, 16)),
                         layers.Conv2D(32, 3, padding="same", name="standard_3x3"),
                         layers.SeparableConv2D(32, 3, padding="same", name="separable_3x3")])
table = params.parameter_table(pair)
print("total:", table.attrs["total"], "= Keras count_params():", pair.count_params())
table[["layer", "type", "output", "params", "formula", "macs"]]

# %% [markdown]
# ## 4. MobileNet's reduction factor
#
# MobileNet (A. G. Howard et al., 2017, *MobileNets: Efficient convolutional neural networks
# for mobile vision applications*) writes the cost of a layer that maps an input with $M$
# channels to $N$ channels on a $D_F \times D_F$ feature map with a $D_K\times D_K$ kernel:
#
# $$
# \underbrace{D_K \cdot D_K \cdot M \cdot N \cdot D_F \cdot D_F}_{\text{standard}}
# \qquad\text{vs}\qquad
# \underbrace{D_K \cdot D_K \cdot M \cdot D_F \cdot D_F}_{\text{depthwise}}
# \;+\; \underbrace{M \cdot N \cdot D_F \cdot D_F}_{\text{pointwise}} .
# $$
#
# The AIL 862 slides leave the ratio as a question ("Reduction factor - ?"). Divide:
#
# $$
# \frac{D_K^2\, M\, D_F^2 + M\, N\, D_F^2}{D_K^2\, M\, N\, D_F^2}
# \;=\; \frac{D_K^2\, M\, D_F^2}{D_K^2\, M\, N\, D_F^2} + \frac{M\, N\, D_F^2}{D_K^2\, M\, N\, D_F^2}
# \;=\; \boxed{\frac{1}{N} + \frac{1}{D_K^2}} .
# $$
#
# $M$ and $D_F$ cancel: the saving depends only on the number of output channels and the
# kernel size. The same ratio holds for parameters (drop the $D_F^2$), as long as biases are
# left out. With $N$ in the hundreds, $\frac1N$ is negligible and a $3\times3$ separable layer
# costs about $\frac19$ of a standard one: **8 to 9 times fewer** MACs. Checked against the MACs
# counted layer by layer, for the notes' layer and a few MobileNet-sized ones:

# %%
layers_to_check = [(16, 32, 3, 8), (32, 64, 3, 112), (128, 128, 3, 56), (512, 512, 3, 14),
                   (1024, 1024, 3, 7), (64, 128, 5, 28), (32, 32, 7, 28)]
rows = []
for m, n, dk, df in layers_to_check:
    c = params.compare_standard_vs_separable(m, n, dk, size=df)
    rows.append({"M": m, "N": n, "D_K": dk, "D_F": df,
                 "standard MACs": c.standard_macs, "separable MACs": c.separable_macs,
                 "MAC ratio": round(c.separable_macs / c.standard_macs, 6),
                 "1/N + 1/D_K^2": round(params.mobilenet_reduction(n, dk), 6),
                 "times fewer": round(c.standard_macs / c.separable_macs, 2)})
reduction = pd.DataFrame(rows)
print("MAC ratio equals 1/N + 1/D_K^2 for every layer:",
      bool(np.allclose(reduction["MAC ratio"], reduction["1/N + 1/D_K^2"])))
reduction

# %% [markdown]
# The dots (counted MACs) sit on the lines (the formula); as $N$ grows the factor flattens
# out at $\frac{1}{D_K^2}$ (dotted), so larger kernels save more.

# %%
plots.plot_reduction_factor(kernels=(3, 5, 7))
plt.show()

# %% [markdown]
# Where does a whole MobileNet spend its budget? Keras ships the architecture; built without
# weights it is only a description, and `parameter_table` counts it layer by layer.

# %%
mobilenet = keras.applications.MobileNet(weights=None, input_shape=(224, 224, 3))
mobile_table = params.parameter_table(mobilenet)
print(f"MobileNet: {mobile_table.attrs['total']:,} parameters (Keras: {mobilenet.count_params():,}), "
      f"{mobile_table.attrs['macs'] / 1e6:.0f} million MACs per 224x224 image")
is_bn = mobile_table["type"] == "BatchNormalization"
for prefix in ("conv_dw", "conv_pw"):
    named = mobile_table["layer"].str.startswith(prefix)
    print(f"layers named {prefix}*: {mobile_table[named & ~is_bn]['params'].sum():,} convolution weights "
          f"and {mobile_table[named & is_bn]['params'].sum():,} batch-norm parameters")

# Per layer type, as in the paper's Table 2: convolution and classifier weights without biases;
# batch normalisation is a role of its own and is left out (it folds into the convolutions).
shares = params.cost_shares(mobilenet)
paper = pd.DataFrame(params.MOBILENET_TABLE2, index=["paper: % of MACs", "paper: % of params"]).T
shares = shares.join(paper)
print("shares as in the paper's Table 2:", {role: bool(row["% of params"] == row["paper: % of params"]
                                                      and row["% of MACs"] == row["paper: % of MACs"])
                                            for role, row in shares.iterrows()})
first = shares.loc["standard 3x3"]
print(f"first 3x3 convolution: {int(first['macs']):,} of {int(shares['macs'].sum()):,} MACs = {first['% of MACs']:.2f} %; "
      f"the paper's MAC column adds up to {shares['paper: % of MACs'].sum():.2f} %")
shares

# %% [markdown]
# The depthwise layers are cheap: almost all the computation is now in the $1\times1$
# convolutions (the MobileNet paper reports the same split in its Table 2: about 95 % of the
# multiply-adds and 75 % of the parameters), which run as plain matrix products and are fast
# on any hardware.
#
# **Layer types, not layer names.** `params.cost_shares` sorts the layers by their *kind*
# (`params.layer_role`). Sorting them by name is a trap: Keras names MobileNet's batch-norm
# layers `conv_dw_1_bn`, `conv_pw_1_bn`, ..., so a test on the prefixes `conv_dw` / `conv_pw`
# files the batch-norm parameters, four per channel, under the convolutions they follow:
# depthwise $44{,}640 + 19{,}840 = 64{,}480$ and pointwise $3{,}139{,}584 + 23{,}808 = 3{,}163{,}392$,
# and a depthwise share of 1.52 % instead of 1.06 %. With batch norm as its own role, and the
# classifier's 1,000 biases left out as in the paper, every parameter share is the paper's.
#
# One entry is not, and the cell shows why: Table 2 gives the first $3\times3$ convolution
# 1.19 % of the multiply-adds, but it costs
# $112 \cdot 112 \cdot 3 \cdot 3 \cdot 3 \cdot 32 = 10{,}838{,}016$ of
# $568{,}740{,}352$, that is **1.91 %**. The two digits are swapped in the paper: with 1.19 %
# its mult-add column adds up to 99.29 %, with 1.91 % to 100.01 % (rounding).
#
# **Explore.** Move the sliders: how do the counts and the ratio change with $M$, $N$ and
# $D_K$? When is a separable layer *not* much cheaper? (Try $N = 1$, or a $1\times1$ kernel.)

# %%
cost_explorer = widgets.separable_cost_explorer(c_in=16, c_out=32, kernel=3, size=32)
cost_explorer

# %% [markdown]
# ### Exercise 1: count a separable layer
#
# How many parameters (biases left out) does a $5\times5$ depthwise-separable convolution from
# 32 to 64 channels have? Replace `None` with an int.

# %%
answer = None
result = nb05.separable_params.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Depthwise: one $5\times5$ filter per input channel, $5\cdot5\cdot32 = 800$. Pointwise:
# $32\cdot64 = 2048$. Total $2848$ (the standard layer has $5\cdot5\cdot32\cdot64 = 51200$).
#
# ```python
# answer = 5 * 5 * 32 + 32 * 64
# ```
# </details>

# %% [markdown]
# ### Exercise 2: the reduction factor with a depth multiplier
#
# Keras' `SeparableConv2D(..., depth_multiplier=m)` gives each input channel $m$ depthwise
# filters, so the depthwise stage outputs $M\cdot m$ channels. Redo the derivation and write
# `reduction(n, dk, m)`, the ratio separable / standard (parameters without biases, or MACs).
# The check compares it with layers counted by `course_utils.params`.

# %%
def reduction(n, dk, m):
    return None  # replace None by your formula


answer = None  # then: answer = reduction
result = nb05.reduction_with_multiplier.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Depthwise: $D_K^2 \cdot M \cdot m$; pointwise: $M m \cdot N$; standard: $D_K^2 \cdot M \cdot N$
# (all times $D_F^2$ for MACs). The ratio is $\frac{m}{N} + \frac{m}{D_K^2}$: with $m > 1$ the
# saving shrinks by the factor $m$.
#
# ```python
# def reduction(n, dk, m):
#     return m / n + m / dk**2
# ```
# </details>

# %% [markdown]
# ## 5. Keras: `SeparableConv2D` = `DepthwiseConv2D` + $1\times1$ `Conv2D`
#
# Keras keeps the two stages inside one layer: a `depthwise_kernel` of shape
# $(k, k, C_\text{in}, m)$, a `pointwise_kernel` of shape $(1, 1, C_\text{in} m, C_\text{out})$
# and one bias, added after the pointwise stage. Copy those weights into a `DepthwiseConv2D`
# (no bias) and a $1\times1$ `Conv2D`, and the two stacked layers give the same output:

# %%
keras.utils.set_random_seed(0)
x = np.random.default_rng(1).standard_normal((2, 10, 10, 16)).astype("float32")

separable = layers.SeparableConv2D(32, 3, padding="same", bias_initializer="random_normal")
y_separable = keras.ops.convert_to_numpy(separable(x))
depthwise_kernel, pointwise_kernel, bias = separable.get_weights()

depthwise = layers.DepthwiseConv2D(3, padding="same", use_bias=False)
pointwise = layers.Conv2D(32, 1)
depthwise.build(x.shape)
pointwise.build((None, 10, 10, 16))
depthwise.set_weights([depthwise_kernel])
pointwise.set_weights([pointwise_kernel, bias])
y_two_layers = keras.ops.convert_to_numpy(pointwise(depthwise(x)))

print("depthwise kernel", depthwise_kernel.shape, "| pointwise kernel", pointwise_kernel.shape, "| bias", bias.shape)
print("outputs", y_separable.shape, y_two_layers.shape)
print("max |difference| below 1e-5:", bool(np.abs(y_separable - y_two_layers).max() < 1e-5))

# %% [markdown]
# ## 6. The numpy layer against TensorFlow
#
# `ops.separable_conv2d_forward` runs the depthwise stage as a grouped convolution
# (`groups = C_in`, section 7) and then a $1\times1$ convolution. Same weights, same input as the
# Keras layer above:

# %%
out_numpy, cache = ops.separable_conv2d_forward(x, depthwise_kernel, pointwise_kernel, bias, padding="same")
print("forward, numpy vs Keras layer: rel. error below 1e-5:", ops.rel_error(out_numpy, y_separable) < 1e-5)

# %% [markdown]
# Its backward pass (`ops.separable_conv2d_backward`, the chain rule through both stages) is
# derived and checked against TensorFlow in notebook 07 (section 10), after backpropagation
# through an ordinary convolution.
#
# ## 7. Relatives: spatially separable and grouped convolutions
#
# ### Spatially separable: $3\times1$ then $1\times3$
#
# Depthwise separability splits *channels* from *space*. Spatial separability splits the
# two *spatial* axes: a $k\times k$ kernel that is an outer product $K = u\,v^\top$ of a
# column $u$ ($k\times1$) and a row $v$ ($1\times k$) can be applied as two 1-D passes,
#
# $$
# (\text{in} \star u v^\top)[y, x] = \sum_{i}\sum_{j} \text{in}[y+i, x+j]\, u_i v_j
# = \sum_j v_j \Big(\sum_i u_i\, \text{in}[y+i, x+j]\Big),
# $$
#
# with $\star$ the cross-correlation of notebook 01 (no kernel flip), costing $2k$ instead of
# $k^2$ multiplications per pixel ($6$ vs $9$ for $3\times3$). The Sobel edge detector is the
# classic example, $\begin{bmatrix}1\\2\\1\end{bmatrix}\begin{bmatrix}-1&0&1\end{bmatrix}$.
# The figure filters an image from the course's dataset both ways:

# %%
sobel_column, sobel_row = np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])
(_, _), (test_images, _) = course_utils.data.load_images(config.dataset(), subset=(1, 1))
image = test_images[0].mean(axis=-1)  # grey levels
plots.plot_spatially_separable(sobel_column, sobel_row, image)
plt.show()

# %% [markdown]
# The catch: only kernels of **rank 1** factor this way. The Sobel kernel has rank 1; a
# random $3\times3$ kernel has rank 3, and its best rank-1 approximation (from the SVD) leaves
# a real error. A layer built as $3\times1$ then $1\times3$ can therefore only *learn* rank-1
# spatial filters per channel pair, unless a non-linearity sits between the two (as in
# Inception v3, Szegedy et al., 2016, *Rethinking the Inception architecture for computer
# vision*, which replaces $n\times n$ convolutions by $n\times1$ and $1\times n$ pairs).

# %%
sobel = np.outer(sobel_column, sobel_row)
random_kernel = np.random.default_rng(4).standard_normal((3, 3))
for label, kernel in (("Sobel", sobel), ("random", random_kernel)):
    u, s, vt = np.linalg.svd(kernel)
    rank_one = s[0] * np.outer(u[:, 0], vt[0])
    print(f"{label:7s} rank {np.linalg.matrix_rank(kernel)}, "
          f"relative error of the best rank-1 approximation: {np.linalg.norm(kernel - rank_one) / np.linalg.norm(kernel):.3f}")

# %% [markdown]
# In a multi-channel layer the pair costs $3\cdot1\cdot C_\text{in}\cdot C_\text{mid} +
# 1\cdot3\cdot C_\text{mid}\cdot C_\text{out}$, so the saving depends on the channels in the
# middle. Counted with `parameter_table` on teaching lists (`"conv3x1-32"` is a $3\times1$
# convolution with 32 filters), no biases:

# %%
def total_params(layer_list, c_in):
    spec = [{"kind": "conv", "kernel": k, "filters": f, "use_bias": False} for k, f in layer_list]
    return int(params.parameter_table(spec, input_channels=c_in)["params"].sum())


spatial = pd.DataFrame([
    {"layers": "3x3, 32 -> 32", "params": total_params([(3, 32)], 32)},
    {"layers": "3x1 then 1x3, 32 -> 32 -> 32", "params": total_params([((3, 1), 32), ((1, 3), 32)], 32)},
    {"layers": "3x3, 16 -> 32 (the notes)", "params": total_params([(3, 32)], 16)},
    {"layers": "3x1 then 1x3, 16 -> 16 -> 32", "params": total_params([((3, 1), 16), ((1, 3), 32)], 16)},
    {"layers": "3x1 then 1x3, 16 -> 32 -> 32", "params": total_params([((3, 1), 32), ((1, 3), 32)], 16)},
])
spatial

# %% [markdown]
# With equal channels the pair saves a third ($6$ vs $9$ weights per channel pair); widening
# the middle can eat the saving entirely (last row: exactly the cost of the $3\times3$ layer).
#
# ### Exercise 3: factor a kernel
#
# `nb05.RANK_ONE_KERNEL` has rank 1. Find a column and a row whose outer product it is, so
# that a $3\times1$ and a $1\times3$ convolution can replace it. Give `(column, row)`.

# %%
print(nb05.RANK_ONE_KERNEL)
answer = None
result = nb05.rank_one_factors.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Every row is a multiple of $[1, 2, 3]$: the multiples are $2, 1, -1$.
#
# ```python
# answer = ([2, 1, -1], [1, 2, 3])
# ```
# Any rescaling, e.g. `([4, 2, -2], [0.5, 1, 1.5])`, works too.
# </details>

# %% [markdown]
# ### Grouped convolutions
#
# `Conv2D(filters, k, groups=g)` splits the $C_\text{in}$ input channels into $g$ groups and
# the filters into $g$ groups; group $j$ of the outputs only reads group $j$ of the inputs.
# It is $g$ independent convolutions side by side, each from $C_\text{in}/g$ to
# $C_\text{out}/g$ channels:
#
# $$
# \text{params} = g \cdot k^2 \,\frac{C_\text{in}}{g}\,\frac{C_\text{out}}{g} = \frac{k^2\, C_\text{in}\, C_\text{out}}{g}
# \;(+\, C_\text{out}).
# $$
#
# AlexNet used two groups to split the network over two GPUs; ResNeXt (Xie et al., 2017,
# *Aggregated residual transformations for deep neural networks*) uses many (its
# "cardinality"); ShuffleNet (Zhang et al., 2018, *ShuffleNet: An extremely efficient
# convolutional neural network for mobile devices*) adds a channel shuffle so information
# still crosses groups.
# With $g = C_\text{in}$ and $C_\text{out} = C_\text{in}$ a grouped convolution *is* a depthwise
# convolution: the depthwise-separable layer sits at the far end of this family.

# %%
plots.plot_channel_connectivity(c_in=8, c_out=8, groups=(1, 2, 4))
plt.show()

# %%
rows = []
for g in (1, 2, 4, 8, 16):
    row = params.parameter_table([{"kind": "conv", "kernel": 3, "filters": 32, "groups": g}], input_channels=16).iloc[0]
    rows.append({"groups": g, "formula": row["formula"], "params (ours)": int(row["params"]),
                 "params (Keras)": keras_params(layers.Conv2D(32, 3, groups=g))})
grouped = pd.DataFrame(rows)
assert (grouped["params (ours)"] == grouped["params (Keras)"]).all()
grouped

# %% [markdown]
# The claim "depthwise = grouped with $g = C_\text{in}$", checked numerically: a `DepthwiseConv2D`
# kernel of shape $(3, 3, 16, 1)$ is a `Conv2D(16, 3, groups=16)` kernel of shape $(3, 3, 1, 16)$.

# %%
depthwise_only = layers.DepthwiseConv2D(3, padding="same", use_bias=False)
grouped_conv = layers.Conv2D(16, 3, padding="same", groups=16, use_bias=False)
depthwise_only.build(x.shape)
grouped_conv.build(x.shape)
grouped_conv.set_weights([depthwise_only.get_weights()[0].reshape(3, 3, 1, 16)])
difference = np.abs(keras.ops.convert_to_numpy(depthwise_only(x)) - keras.ops.convert_to_numpy(grouped_conv(x))).max()
print("DepthwiseConv2D == Conv2D(groups=16):", bool(difference < 1e-5))

# %% [markdown]
# ### Exercise 4: a grouped layer
#
# How many parameters does `Conv2D(128, 3, groups=4, use_bias=False)` have on a 64-channel input?

# %%
answer = None
result = nb05.grouped_params.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Each of the 128 filters reads $64/4 = 16$ channels through a $3\times3$ kernel:
# $3\cdot3\cdot16\cdot128 = 18432$, a quarter of the $73728$ of the ungrouped layer.
#
# ```python
# answer = 3 * 3 * (64 // 4) * 128
# ```
# </details>

# %% [markdown]
# ## 8. Experiment: accuracy against parameters
#
# Fewer parameters are only worth having if accuracy survives. We train the same small
# network (`experiments.small_cnn`) with standard and with separable convolutions, at three
# widths $w$ (channels $w, 2w, 4w, 4w$). As in MobileNet, the first layer is a standard
# convolution in both versions (a 1- or 3-channel image has almost nothing to separate) and
# every convolution is followed by batch normalisation (defined in one line in the introduction;
# here it is a black box, notebook 06 teaches it) and a ReLU. Without it, stacked depthwise and
# pointwise layers start learning very slowly. All six runs share the data, the seed, the
# optimiser (Adam) and the number of epochs; the budget comes from
# `config.budget("separable_vs_standard")` and the dataset from `config.dataset()`.

# %%
budget = config.budget("separable_vs_standard")
data = experiments.load_data(budget)
print("dataset:", data.title, "| input shape:", data.input_shape, "| classes:", data.num_classes)

widths = (8, 16, 32)
candidates = {f"{kind} w{w}": (kind, w) for kind in experiments.CONV_KINDS for w in widths}


def build(kind, w):
    return experiments.small_cnn(data.input_shape, data.num_classes, width=w, conv=kind, batchnorm="before_relu")


pd.DataFrame([{"run": name, "params": build(kind, w).count_params()} for name, (kind, w) in candidates.items()])

# %% [markdown]
# The separable network of width $w$ has fewer parameters than the standard one of *half* its
# width: the experiment asks whether it is also less accurate. The per-layer formulas of the
# separable $w = 16$ network (each batch normalisation adds 2 trainable and 2 non-trainable
# numbers per channel):

# %%
params.parameter_table(build("separable", 16))[["layer", "type", "output", "params", "formula", "trainable", "non_trainable"]]

# %%
# NBVAL_IGNORE_OUTPUT
# Trains six small networks (a few minutes on a laptop CPU with the full budget).
runs = []
for name, (kind, w) in candidates.items():
    runs.append(experiments.fit_model(name, lambda: build(kind, w), data, budget))
print(f"{data.title}: {len(data.x_train)} training and {len(data.x_test)} test images, {budget.epochs} epochs")
experiments.results_table(runs)

# %%
plots.plot_accuracy_vs_params(runs)
plt.show()

# %% [markdown]
# Read the plot along a vertical line (equal parameters) and along a horizontal one (equal
# accuracy); the table above is this run's result. Two things to look for. Is the separable
# curve to the left of the standard one, that is, does a separable network reach a given test
# accuracy with fewer parameters (and, by section 4, fewer MACs)? And at equal *width*, compare
# the training accuracies: the standard network has several times more weights and
# unconstrained kernels, so it fits its training set faster, which on a small training set in a
# few epochs does not always carry over to the test set. Short runs on a few thousand images are
# noisy, so read single points with care. At scale the trade-off is the one MobileNet reports:
# about one point of ImageNet accuracy for 8 to 9 times less computation.
#
#
# ### Exercise 5: find the bug
#
# `nb05.buggy_separable_params` is meant to count the weights (no biases) of a
# depthwise-separable convolution. Predict what it gives for the notes' layer
# ($16 \to 32$, $3\times3$), run the cell, then find the bug and write the repaired function.

# %%
import inspect

print(inspect.getsource(nb05.buggy_separable_params))
print("buggy_separable_params(16, 32, 3) =", nb05.buggy_separable_params(16, 32, 3),
      "  counted:", params.compare_standard_vs_separable(16, 32, 3).separable)

# %%
def separable_params(c_in, c_out, k):
    ...


answer = None  # replace with: answer = separable_params
result = nb05.fix_separable_params.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# The depthwise stage has one $k\times k$ filter per **input** channel; the buggy version gives
# it one per output channel (which is why it is right when $C_\text{in} = C_\text{out}$).
#
# ```python
# def separable_params(c_in, c_out, k):
#     return k * k * c_in + c_in * c_out
#
# answer = separable_params
# ```
# </details>
#
# ## What to remember
#
# * Depthwise-separable = depthwise $k\times k$ per channel + pointwise $1\times1$:
#   $k^2 C_\text{in} + C_\text{in} C_\text{out}$ weights instead of $k^2 C_\text{in} C_\text{out}$.
# * Cost ratio $\frac{1}{N} + \frac{1}{D_K^2}$ (parameters without biases, and MACs): about $\frac19$ for $3\times3$.
# * In MobileNet the $1\times1$ layers hold 95 % of the MACs and 75 % of the parameters; count by layer *kind*.
# * Spatially separable kernels are rank 1; grouped convolutions divide the cost by $g$.
