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
# # 07 · Backpropagation through convolution
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/07_backprop_through_convolution.ipynb)
#
# A convolutional layer is trained like any other layer: the backward pass turns the
# gradient of the error with respect to the layer's output into gradients with respect
# to its weights (to update them) and to its input (to pass further back). This notebook
# derives both for convolution and max-pooling on the smallest example that shows
# everything, a $3\times3$ input and a $2\times2$ kernel, and then scales the result up
# to 4D tensors and real implementations.
#
# You will see that
#
# * $\partial E/\partial W$ is a **correlation** of the layer's input with $\partial E/\partial H^l$;
# * $\partial E/\partial H^{l-1}$ is a **full convolution** of the zero-padded $\partial E/\partial H^l$
#   with the kernel rotated by $180°$: the receptive field, inverted;
# * max-pooling sends each gradient to the one input that won its window; average and global
#   average pooling share it among the window's inputs;
# * loops, serialisation (im2col) and library convolutions compute the same numbers,
#   at very different speeds;
# * the same rules give the backward passes of the transposed, depthwise-separable and dilated
#   convolutions of notebooks 03 to 05, and a gradient check catches a broken dilated backprop
#   that still trains.
#
# Every gradient is checked twice: against centred finite differences and against
# TensorFlow's automatic differentiation.
#
# **Source.** *The lecture* is H. Bilen, *Convolutional Networks 2: Training, deep
# convolutional networks*, Machine Learning Practical, Lecture 8, University of Edinburgh, 2018.

# %%
# Open in Colab: https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/07_backprop_through_convolution.ipynb
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

import functools
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from IPython.display import Markdown, display

from course_utils import config, experiments, numpy_net, ops, plots, widgets
from course_utils.exercises import nb07

np.set_printoptions(precision=4, suppress=True)
as4d = functools.partial(ops.image4d, dtype=np.float64)  # float64 for exact gradient checks


# %% [markdown]
# ## 1. Forward and backward pass of a layer
#
# Layer $l$ computes $h^l = f^l(h^{l-1}; w^l, b^l)$. Backpropagation receives
# $\partial E/\partial h^l$ from the layer above and needs two things:
#
# $$\frac{\partial E}{\partial w^l} = \frac{\partial E}{\partial h^l}\,\frac{\partial h^l}{\partial w^l}
# \qquad\text{(to update the weights)},\qquad
# \frac{\partial E}{\partial h^{l-1}} = \frac{\partial E}{\partial h^l}\,\frac{\partial h^l}{\partial h^{l-1}}
# \qquad\text{(to pass further back)}.$$
#
# For a fully connected layer these are matrix products. For a convolution every weight is
# used at *every* output position (weight sharing) and every input pixel feeds *several*
# outputs, so each chain rule becomes a sum. Writing the sums out on a small example shows
# their structure.
#
# ## 2. The example: a $3\times3$ input and a $2\times2$ kernel
#
# Deep-learning libraries compute a cross-correlation (no kernel flip, see notebook 01); here
# with stride 1 and no padding, so the output is $2\times2$. The four forward equations,
# generated from the index arithmetic (indices from 1, as in the lecture: output $h^l_{mn}$
# reads input $h^{l-1}_{m+a-1,\,n+b-1}$ through weight $w^l_{ab}$):

# %%
display(Markdown(plots.latex_block(plots.forward_equations(n=3, k=2))))

# %% [markdown]
# The same connections as a picture: output $h^l_{12}$ reads the four coloured inputs, each
# multiplied by the weight of the same colour.

# %%
fig = plots.plot_conv_connections(n=3, k=2, output=(0, 1))

# %% [markdown]
# Now with numbers. We pick a small integer input, kernel and bias and compute the output
# with the explicit loops of `course_utils.ops` (one output value at a time, exactly the
# equations above) and with TensorFlow:

# %%
X = np.array([[3., 0., 1.],
              [1., 2., 4.],
              [0., 1., 2.]])
W = np.array([[1., -1.],
              [2., 0.]])
b = 1.0

H, cache = ops.conv2d_forward_naive(as4d(X), W[:, :, None, None], np.array([b]))
H_tf = tf.nn.conv2d(as4d(X), W[:, :, None, None], strides=1, padding="VALID") + b
print("H^l (loops):\n", H[0, :, :, 0])
print("same as tf.nn.conv2d:", np.array_equal(H, H_tf.numpy()))

# %% [markdown]
# Check one entry by hand: $h^l_{11} = 1\cdot3 + (-1)\cdot0 + 2\cdot1 + 0\cdot2 + 1 = 6$.
#
# For the backward pass we need an error. Take the squared error against a target $T$,
# $E = \tfrac12\sum_{m,n}(h^l_{mn} - t_{mn})^2$, so that $\partial E/\partial h^l_{mn} = h^l_{mn} - t_{mn}$:

# %%
T = np.array([[5., 5.],
              [6., 5.]])
G = H[0, :, :, 0] - T          # dE/dH^l, what the layer above sends back
print("E =", 0.5 * np.sum(G ** 2))
print("dE/dH^l:\n", G)

# %% [markdown]
# ## 3. Gradient with respect to the weights: a correlation
#
# $w^l_{11}$ appears in all four forward equations, so by the chain rule
#
# $$\frac{\partial E}{\partial w^l_{11}} = \sum_{m,n}\frac{\partial E}{\partial h^l_{mn}}\,
# \frac{\partial h^l_{mn}}{\partial w^l_{11}}, \qquad
# \frac{\partial h^l_{11}}{\partial w^l_{11}} = h^{l-1}_{11},\;
# \frac{\partial h^l_{12}}{\partial w^l_{11}} = h^{l-1}_{12},\;\dots$$
#
# Doing this for every weight (generated, like the forward equations):

# %%
display(Markdown(plots.latex_block(plots.weight_gradient_equations(n=3, k=2))))

# %% [markdown]
# In general, for an output $H^l\in\mathbb{R}^{M^l\times N^l}$,
#
# $$\frac{\partial E}{\partial w^l_{rs}} = \sum_{m=1}^{M^l}\sum_{n=1}^{N^l}
# \frac{\partial E}{\partial h^l_{mn}}\; h^{l-1}_{r+m-1,\,s+n-1},$$
#
# which is the forward formula again with $\partial E/\partial H^l$ in the role of the kernel:
# **$\partial E/\partial W^l$ is the cross-correlation of the input $H^{l-1}$ with
# $\partial E/\partial H^l$**. (The lecture slides this comes from write $h^{l-1}_{33}$ in the
# second term of $\partial E/\partial w^l_{22}$ and $\partial h^{l-1}$ in some denominators;
# the generated lines above have the correct indices $h^{l-1}_{23}$ and $\partial h^l_{mn}$.)
#
# So a convolution routine computes the weight gradient: slide the $2\times2$ gradient over the input.

# %%
dW_corr = ops.conv2d_forward(as4d(X), as4d(G).transpose(1, 2, 0, 3), None)[0][0, :, :, 0]
print("dE/dW as the correlation H^{l-1} ⋆ dE/dH^l:\n", dW_corr)
fig = plots.plot_matrix_row([(X, r"$H^{l-1}$"), (G, r"$\partial E/\partial H^l$"),
                             (dW_corr, r"$\partial E/\partial W^l$")], operators=["⋆", "="])

# %% [markdown]
# ## 4. Gradient with respect to the input: a full convolution with the rotated kernel
#
# Each input pixel feeds only the outputs whose receptive field contains it. Writing the chain
# rule over *all* outputs, the ones that do not read the pixel contribute $0$; for the corner
# $h^{l-1}_{11}$ only one term survives, for the centre $h^{l-1}_{22}$ all four do:

# %%
display(Markdown(plots.latex_block(plots.input_gradient_equations(n=3, k=2, pixels=[(0, 0), (1, 1)],
                                                                  show_zeros=True))))

# %% [markdown]
# All nine input pixels:

# %%
display(Markdown(plots.latex_block(plots.input_gradient_equations(n=3, k=2))))

# %% [markdown]
# Read the centre line: the gradients $\partial E/\partial h^l_{11}, \dots, \partial E/\partial h^l_{22}$
# meet the weights in the order $w_{22}, w_{21}, w_{12}, w_{11}$: the kernel rotated by $180°$.
# At the border some outputs are missing, which is what zero padding gives. Hence
#
# $$\frac{\partial E}{\partial H^{l-1}} = \operatorname{pad}_{k-1}\!\Big(\frac{\partial E}{\partial H^l}\Big)
# \star \operatorname{rot}_{180°}(W^l),$$
#
# a *full* convolution: $\partial E/\partial H^l$ padded with $k-1$ zeros on every side, correlated
# with the rotated kernel (correlating with a rotated kernel *is* a true convolution, so this is
# "convolution" in the signal-processing sense). Think of it as **inverting the receptive
# field**: the forward pass gathers a $2\times2$ patch into one output; the backward pass
# scatters each output's gradient back over the same patch.

# %%
k = W.shape[0]
G_padded = np.pad(G, k - 1)
W_rot = W[::-1, ::-1]
dX_full = ops.conv2d_forward(as4d(G_padded), as4d(W_rot).transpose(1, 2, 0, 3), None)[0][0, :, :, 0]
print("dE/dH^{l-1} as a full convolution:\n", dX_full)
fig = plots.plot_matrix_row([(G_padded, r"padded $\partial E/\partial H^l$"), (W_rot, r"rotated $W^l$"),
                             (dX_full, r"$\partial E/\partial H^{l-1}$")], operators=["⋆", "="])

# %% [markdown]
# ### Explore: which pixels and weights does a position touch?
#
# *Forward* mode: pick an output pixel, see the inputs it reads and its equation.
# *Backward* mode: pick an input pixel, see which outputs send it gradient and through
# which weights. Change stride, padding and dilation and watch the pattern: with stride 2
# some input pixels get gradient from a single output (or none at all, if the kernel is
# smaller than the stride).

# %%
explorer = widgets.conv_backprop_explorer(size=3, kernel=2)
explorer

# %% [markdown]
# ## 5. Checking every gradient
#
# Hand-derived gradients must be checked. Four answers for the example, computed independently:
#
# 1. the formulas above (correlation and full convolution);
# 2. `ops.conv2d_backward`, the vectorised backward pass of the course package;
# 3. **finite differences**: nudge each input by $\pm h$ and measure $E$
#    (`ops.check_gradients`, centred differences in float64: the gradient check of notebook 06);
# 4. **automatic differentiation**: `tf.GradientTape` on the same computation.
#
# Relative errors are $\max|a-b| / \max(|a|,|b|)$ (`ops.rel_error`). Exact rounding differs
# between machines, so we print whether each error is below a threshold.

# %%
dX_ops, dW_ops, db_ops = ops.conv2d_backward(as4d(G), cache)

x_var = tf.Variable(as4d(X))
w_var = tf.Variable(W[:, :, None, None])
b_var = tf.Variable([b], dtype=tf.float64)
with tf.GradientTape() as tape:
    out = tf.nn.conv2d(x_var, w_var, strides=1, padding="VALID") + b_var
    E = 0.5 * tf.reduce_sum((out - as4d(T)) ** 2)
dX_tf, dW_tf, db_tf = tape.gradient(E, [x_var, w_var, b_var])

numeric = ops.check_gradients(lambda x, w, bias: ops.conv2d_forward(x, w, bias), ops.conv2d_backward,
                              [as4d(X), W[:, :, None, None], np.array([b])], dout=as4d(G), verbose=False)

print("dE/db = sum of dE/dH^l =", db_ops[0])
rows = {
    "dE/dW: correlation vs ops.conv2d_backward": ops.rel_error(dW_corr, dW_ops[:, :, 0, 0]),
    "dE/dW: correlation vs tf.GradientTape": ops.rel_error(dW_corr, dW_tf.numpy()[:, :, 0, 0]),
    "dE/dX: full convolution vs ops.conv2d_backward": ops.rel_error(dX_full, dX_ops[0, :, :, 0]),
    "dE/dX: full convolution vs tf.GradientTape": ops.rel_error(dX_full, dX_tf.numpy()[0, :, :, 0]),
    "dE/db: ops vs tf.GradientTape": ops.rel_error(db_ops, db_tf.numpy()),
}
rows.update({f"d{name}: ops.conv2d_backward vs finite differences": err for name, err in numeric.items()})
for name, err in rows.items():
    print(f"{name:<52} rel_error < 1e-9: {err < 1e-9}")

# %% [markdown]
# ## 6. Backpropagation through max-pooling
#
# $m = \max(a, b)$ has $\partial m/\partial a = 1$ if $a > b$ and $0$ otherwise. A max-pooling
# window is a max over four inputs, so its output's gradient goes **entirely to the input
# that won** and the others get nothing. $\partial H^l/\partial H^{l-1}$ is a 0/1 "switch"
# mask remembered from the forward pass (the arg-max of each window), and
#
# $$\frac{\partial E}{\partial H^{l-1}} = \operatorname{upsample}\Big(\frac{\partial E}{\partial H^l}\Big)
# \odot \frac{\partial H^l}{\partial H^{l-1}}.$$
#
# With this $4\times4$ input, the switch mask is the one on the lecture slide:

# %%
P = np.array([[1., 2., 7., 0.],
              [3., 9., 1., 2.],
              [4., 8., 0., 1.],
              [2., 1., 6., 3.]])
dP_up = np.array([[1., 2.],
                  [3., 4.]])          # dE/dH^l of the pooled 2x2 output

pooled, pool_cache = ops.max_pool_forward(as4d(P), pool_size=2)
mask = ops.max_pool_backward(np.ones_like(pooled), pool_cache)[0, :, :, 0]
dP = ops.max_pool_backward(as4d(dP_up), pool_cache)[0, :, :, 0]
print("pooled H^l:\n", pooled[0, :, :, 0])
print("switch mask dH^l/dH^{l-1}:\n", mask.astype(int))
print("dE/dH^{l-1}:\n", dP)

# %%
fig = plots.plot_maxpool_routing(P, dP_up)

# %% [markdown]
# **Ties.** The lecture's derivative, $\partial m/\partial a = 1$ if $a > b$ and $0$ otherwise
# (and the same for $b$), uses strict inequalities. At a tie $a = b$ both partial derivatives are
# then $0$, and the gradient of $m$ is lost, although $m$ does change when $a$ and $b$ both
# grow: $\partial m/\partial a + \partial m/\partial b$ should be $1$. The max is not
# differentiable at a tie, and any split of the gradient with weights $\theta$ and $1-\theta$,
# $0 \le \theta \le 1$, is a valid (sub)gradient. Implementations give it all to *one* of the
# tied inputs: `ops.max_pool_backward` to the first in row-major order, as `np.argmax` does.
# Sending it to every tied input (a mask `window == window.max()`) counts it twice; sending it to
# none loses it. Either way $\sum \partial E/\partial H^{l-1}$ no longer equals
# $\sum \partial E/\partial H^l$.
#
# The same checks as before. Max-pooling is not differentiable where two inputs of a window
# tie; finite differences are safe on inputs without ties (a random input almost surely
# has none).

# %%
p_var = tf.Variable(as4d(P))
with tf.GradientTape() as tape:
    pooled_tf = tf.nn.max_pool2d(p_var, ksize=2, strides=2, padding="VALID")
    E_pool = tf.reduce_sum(pooled_tf * as4d(dP_up))
dP_tf = tape.gradient(E_pool, p_var)
print("max-pool: ops vs tf.GradientTape, rel_error < 1e-9:",
      ops.rel_error(dP, dP_tf.numpy()[0, :, :, 0]) < 1e-9)

rng = np.random.default_rng(0)
errors = ops.check_gradients(lambda x: ops.max_pool_forward(x, 2), ops.max_pool_backward,
                             [rng.standard_normal((2, 6, 6, 3))], verbose=False)
print("max-pool: ops vs finite differences (2x6x6x3 input), rel_error < 1e-9:", errors["x"] < 1e-9)

# %% [markdown]
# ### Average and global average pooling
#
# An average-pooling output is $\frac{1}{n}\sum$ of the $n$ inputs of its window, so
# $\partial\,\text{out}/\partial x = \frac1n$ for each of them: the backward pass spreads
# $\partial E/\partial H^l / n$ evenly over the window, with nothing to remember from the forward
# pass but the window sizes (windows that overlap add their shares, and with `"same"` padding $n$
# counts only the real pixels). Global average pooling is one window over the whole map: every
# input receives $\partial E/\partial H^l / (H W)$. For the same $4\times4$ input and upstream
# gradient as above:

# %%
pooled_avg, avg_cache = ops.avg_pool_forward(as4d(P), pool_size=2)
print("average-pool dE/dH^{l-1}:\n", ops.avg_pool_backward(as4d(dP_up), avg_cache)[0, :, :, 0])

x_avg = rng.standard_normal((2, 7, 7, 3))
for name, size, stride in (("average 2x2", 2, 2), ("average 3x3, stride 2 (overlapping)", 3, 2),
                           ("global average", 7, 7)):
    out, cache = ops.avg_pool_forward(x_avg, pool_size=size, stride=stride)
    dout = rng.standard_normal(out.shape)
    x_var = tf.Variable(x_avg)
    with tf.GradientTape() as tape:
        pooled_tf = tf.nn.avg_pool2d(x_var, ksize=size, strides=stride, padding="VALID")
        E_avg = tf.reduce_sum(pooled_tf * dout)
    dx_tf = tape.gradient(E_avg, x_var).numpy()
    print(f"{name}: ops vs tf.GradientTape, rel_error < 1e-9:",
          ops.rel_error(ops.avg_pool_backward(dout, cache), dx_tf) < 1e-9)
gap_out, gap_cache = ops.avg_pool_forward(x_avg, pool_size=7)
print("global average pooling == the mean over height and width:",
      np.allclose(gap_out[:, 0, 0, :], x_avg.mean(axis=(1, 2))))

# %% [markdown]
# ## 7. Mini-batches and channels: 4D tensors
#
# Real layers have a batch of $N$ images with $C_{in}$ channels and produce $C_{out}$ feature maps:
#
# * inputs and layer values are 4D tensors. TensorFlow uses **NHWC**
#   $(N, H, W, C)$; the lecture (and PyTorch) use $(N, C, H, W)$;
# * the weights are 4D too: TensorFlow stores $(k_h, k_w, C_{in}, C_{out})$, PyTorch
#   $(C_{out}, C_{in}, k_h, k_w)$ and the lecture $(F_{in}, F_{out}, x, y)$. Each output channel
#   has one $k_h\times k_w$ kernel *per input channel*.
#
# With stride $s$, padded input $\tilde x$ and dilation $d$ the three formulas become
#
# $$\begin{aligned}
# h[n,y,x,f] &= b_f + \sum_{i,j,c} \tilde x[n,\, ys+id,\, xs+jd,\, c]\; w[i,j,c,f] \\
# \frac{\partial E}{\partial w[i,j,c,f]} &= \sum_{n,y,x} \tilde x[n,\, ys+id,\, xs+jd,\, c]\;
#     \frac{\partial E}{\partial h[n,y,x,f]} \qquad\text{(summed over the batch too)}\\
# \frac{\partial E}{\partial \tilde x[n,\, ys+id,\, xs+jd,\, c]} &\mathrel{+}= w[i,j,c,f]\;
#     \frac{\partial E}{\partial h[n,y,x,f]} \qquad\text{(scatter, then crop the padding)}\\
# \frac{\partial E}{\partial b_f} &= \sum_{n,y,x}\frac{\partial E}{\partial h[n,y,x,f]}
# \end{aligned}$$
#
# The input gradient mixes channels through $w[i,j,c,f]$ with $c$ and $f$ exchanged: in the
# full-convolution picture the rotated kernel also has its $C_{in}$ and $C_{out}$ axes swapped.
# A stride inserts $s-1$ zeros between the entries of $\partial E/\partial H^l$ before the full
# convolution (that is exactly a *transposed convolution*, notebook 04).
#
# Both numpy implementations (loops and im2col) are checked on 4D tensors with every argument,
# against finite differences and against TensorFlow:

# %%
def tf_conv_grads(x, w, bias, dout, stride, padding, dilation, groups):
    """dE/dx, dE/dw, dE/db of E = sum(dout * conv(x)) by tf.GradientTape (float64).

    TensorFlow's CPU kernels have no backward pass for dilated or grouped convolutions, so
    inside the tape the kernel is "inflated" (zeros between the taps, a differentiable
    scatter) and the groups are separate convolutions on channel slices, concatenated.
    """
    tensors = [tf.Variable(v) for v in (x, w, bias)]
    pads = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    k = w.shape[0]
    k_eff = dilation * (k - 1) + 1
    taps = [[i * dilation, j * dilation] for i in range(k) for j in range(k)]
    with tf.GradientTape() as tape:
        inflated = tf.scatter_nd(taps, tf.reshape(tensors[1], (k * k, *w.shape[2:])),
                                 (k_eff, k_eff, *w.shape[2:]))
        parts = zip(tf.split(tensors[0], groups, axis=3), tf.split(inflated, groups, axis=3))
        out = tf.concat([tf.nn.conv2d(xg, wg, strides=stride, padding=pads) for xg, wg in parts], axis=3)
        loss = tf.reduce_sum((out + tensors[2]) * dout)
    return [g.numpy() for g in tape.gradient(loss, tensors)]


rng = np.random.default_rng(1)
configs = [  # (stride, padding, dilation, groups)
    (1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 1, 2, 1), (2, 0, 1, 2), (1, 1, 1, 4),
]
records = []
for stride, padding, dilation, groups in configs:
    x = rng.standard_normal((2, 7, 7, 4))
    w = rng.standard_normal((3, 3, 4 // groups, 4))
    bias = rng.standard_normal(4)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    record = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    for label, forward, backward in (("loops", ops.conv2d_forward_naive, ops.conv2d_backward_naive),
                                     ("im2col", ops.conv2d_forward, ops.conv2d_backward)):
        num = ops.check_gradients(lambda x, w, b: forward(x, w, b, **kwargs), backward, [x, w, bias],
                                  verbose=False)
        record[f"{label} vs numeric"] = max(num.values()) < 1e-7
    out, cache = ops.conv2d_forward(x, w, bias, **kwargs)
    dout = rng.standard_normal(out.shape)
    ours = ops.conv2d_backward(dout, cache)
    record["im2col vs TF"] = max(ops.rel_error(a, t) for a, t in
                                 zip(ours, tf_conv_grads(x, w, bias, dout, **kwargs))) < 1e-9
    records.append(record)
pd.DataFrame(records)

# %% [markdown]
# (With `groups` $=g$ the weights are $(k_h, k_w, C_{in}/g, C_{out})$: $g$ independent convolutions,
# each on $C_{in}/g$ input channels producing $C_{out}/g$ output channels.)
#
# ## 8. Three ways to compute it: loops, serialisation, convolution functions
#
# The lecture lists three ways to implement these 4D tensor products:
#
# 1. **Explicit loops** over images, output pixels and filters: simple, readable and slow in Python
#    (`ops.conv2d_forward_naive` / `ops.conv2d_backward_naive`).
# 2. **Serialisation** (im2col): copy every receptive field into one row of a matrix; the whole
#    convolution is then *one* matrix product with the kernel flattened to a column, and the
#    backward pass is two more products ($\partial E/\partial W = \text{cols}^\top G$,
#    $\partial E/\partial\text{cols} = G W^\top$, scattered back by col2im). Memory-hungry (each
#    pixel is copied $k^2$ times), but matrix products are what BLAS libraries and GPUs do best
#    (`ops.conv2d_forward` / `ops.conv2d_backward`).
# 3. **Convolution functions** for forward *and* backward: the two gradients are themselves
#    convolutions (sections 3-4), so an optimised `conv2d` (here `tf.nn.conv2d`) computes
#    everything, with the kernel rotated for the backward pass.

# %%
fig = plots.plot_im2col(n=3, k=2)

# %% [markdown]
# Option 3 written out for stride 1 and no padding, with nothing but `tf.nn.conv2d`: the input
# gradient is the padded $G$ correlated with the rotated kernel whose channel axes are swapped;
# the weight gradient correlates the input with $G$, using the *batch* axis as the summed
# channel axis (so the input is transposed to $(C_{in}, H, W, N)$ and $G$ to $(H_o, W_o, N, C_{out})$).

# %%
def backward_with_conv_functions(x, w, dout):
    """dE/dx, dE/dw, dE/db of a stride-1, unpadded convolution, each computed by tf.nn.conv2d."""
    k = w.shape[0]
    rotated = w[::-1, ::-1].transpose(0, 1, 3, 2)                        # (k, k, C_out, C_in)
    padded = np.pad(dout, ((0, 0), (k - 1, k - 1), (k - 1, k - 1), (0, 0)))
    dx = tf.nn.conv2d(padded, rotated, strides=1, padding="VALID").numpy()
    dw = tf.nn.conv2d(x.transpose(3, 1, 2, 0), dout.transpose(1, 2, 0, 3), strides=1,
                      padding="VALID").numpy().transpose(1, 2, 0, 3)  # (C_in, k, k, C_out) -> (k, k, C_in, C_out)
    return dx, dw, dout.sum(axis=(0, 1, 2))


rng = np.random.default_rng(2)
x = rng.standard_normal((4, 9, 9, 3))
w = rng.standard_normal((3, 3, 3, 5))
bias = rng.standard_normal(5)

out_loops, cache_loops = ops.conv2d_forward_naive(x, w, bias)
out_cols, cache_cols = ops.conv2d_forward(x, w, bias)
out_tf = tf.nn.conv2d(x, w, strides=1, padding="VALID").numpy() + bias
dout = rng.standard_normal(out_tf.shape)
grads = {"loops": ops.conv2d_backward_naive(dout, cache_loops),
         "im2col": ops.conv2d_backward(dout, cache_cols),
         "conv functions": backward_with_conv_functions(x, w, dout)}
print("forward:  loops vs im2col", ops.rel_error(out_loops, out_cols) < 1e-12,
      "| loops vs tf.nn.conv2d", ops.rel_error(out_loops, out_tf) < 1e-12)
for name in ("im2col", "conv functions"):
    same = [ops.rel_error(a, b_) < 1e-12 for a, b_ in zip(grads["loops"], grads[name])]
    print(f"backward: loops vs {name:<15} dx, dw, db equal: {same}")

# %% [markdown]
# All three agree to rounding. They differ in speed by orders of magnitude. Timings depend on
# the machine and change from run to run, so this cell's output is not checked:

# %%
# NBVAL_IGNORE_OUTPUT
def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


rng = np.random.default_rng(3)
x = rng.standard_normal((8, 24, 24, 16)).astype(np.float32)
w = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
bias = np.zeros(32, np.float32)
dout = rng.standard_normal((8, 22, 22, 32)).astype(np.float32)


def loops():
    ops.conv2d_backward_naive(dout, ops.conv2d_forward_naive(x, w, bias)[1])


def im2col():
    ops.conv2d_backward(dout, ops.conv2d_forward(x, w, bias)[1])


def conv_functions():
    tf.nn.conv2d(x, w, strides=1, padding="VALID")
    backward_with_conv_functions(x, w, dout)


def tf_autodiff():
    w_var = tf.Variable(w)
    x_var = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.conv2d(x_var, w_var, strides=1, padding="VALID") * dout)
    tape.gradient(loss, [x_var, w_var])


tf_autodiff(); conv_functions()  # warm-up: the first TensorFlow call pays one-off set-up costs
timings = pd.DataFrame({
    "implementation": ["loops (numpy)", "serialisation / im2col (numpy)",
                       "conv functions (tf.nn.conv2d)", "TensorFlow autodiff"],
    "seconds": [best_time(loops, 1), best_time(im2col, 5), best_time(conv_functions, 5),
                best_time(tf_autodiff, 5)],
})
timings["time / TF autodiff"] = (timings["seconds"] / timings["seconds"].iloc[-1]).round(1)
print("forward + backward, batch 8 of 24x24x16 images, 3x3 kernel, 32 filters")
display(timings.round(5))
fig = plots.plot_implementation_timings(timings)

# %% [markdown]
# ## 9. Exercises
#
# Each check tells you at once whether you are right, with a hint if not. The data:

# %%
print("INPUT =\n", nb07.INPUT, "\nKERNEL =\n", nb07.KERNEL, "\nUPSTREAM = dE/dH^l =\n", nb07.UPSTREAM)

# %% [markdown]
# **Exercise 1.** Compute $\partial E/\partial W$ for `INPUT`, `KERNEL` and `UPSTREAM` (a $2\times2$ array).
# Use numpy as a calculator (slicing and `np.sum`), not the `ops` backward functions.

# %%
answer = None
result = nb07.weight_gradient.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Slide `UPSTREAM` over the input (a correlation):
#
# ```python
# answer = np.array([[np.sum(nb07.INPUT[r:r + 2, s:s + 2] * nb07.UPSTREAM) for s in range(2)]
#                    for r in range(2)])
# ```
#
# </details>
#
# **Exercise 2.** Compute $\partial E/\partial H^{l-1}$ (a $3\times3$ array) for the same data.

# %%
answer = None
result = nb07.input_gradient.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Pad the upstream gradient with $k-1=1$ zeros, rotate the kernel, correlate:
#
# ```python
# padded = np.pad(nb07.UPSTREAM, 1)
# rotated = nb07.KERNEL[::-1, ::-1]
# answer = np.array([[np.sum(padded[i:i + 2, j:j + 2] * rotated) for j in range(3)] for i in range(3)])
# ```
#
# </details>
#
# **Exercise 3.** `POOL_INPUT` goes through $2\times2$ max-pooling with stride 2. Given
# `POOL_UPSTREAM` $=\partial E/\partial H^l$, compute $\partial E/\partial H^{l-1}$ ($4\times4$).

# %%
print("POOL_INPUT =\n", nb07.POOL_INPUT, "\nPOOL_UPSTREAM =\n", nb07.POOL_UPSTREAM)
answer = None
result = nb07.maxpool_gradient.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# answer = np.zeros((4, 4))
# for r in range(2):
#     for c in range(2):
#         window = nb07.POOL_INPUT[2 * r:2 * r + 2, 2 * c:2 * c + 2]
#         i, j = np.unravel_index(np.argmax(window), window.shape)
#         answer[2 * r + i, 2 * c + j] = nb07.POOL_UPSTREAM[r, c]
# ```
#
# </details>
#
# **Exercise 4.** Write a function `input_gradient(dout, w)` that returns $\partial E/\partial X$
# of a single-channel, stride-1, unpadded convolution with a square kernel `w`, for any sizes.
# The check runs it on several random inputs.

# %%
def input_gradient(dout, w):
    ...


answer = None  # replace with: answer = input_gradient
result = nb07.input_gradient_function.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def input_gradient(dout, w):
#     k = w.shape[0]
#     padded = np.pad(dout, k - 1)
#     rotated = w[::-1, ::-1]
#     n = dout.shape[0] + k - 1
#     return np.array([[np.sum(padded[i:i + k, j:j + k] * rotated) for j in range(n)] for i in range(n)])
#
# answer = input_gradient
# ```
#
# </details>
#
#
# **Exercise 5.** `POOL_INPUT` goes through $2\times2$ **average** pooling (stride 2) instead; the
# gradient of the pooled output is again `POOL_UPSTREAM`. Compute $\partial E/\partial H^{l-1}$
# (a $4\times4$ array) by hand.

# %%
answer = None
result = nb07.avgpool_gradient.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Every input of a window moves its mean by a quarter of its own change, so each receives a quarter
# of the window's upstream value:
#
# ```python
# answer = np.kron(nb07.POOL_UPSTREAM, np.ones((2, 2))) / 4
# ```
# </details>
#
# **Exercise 6 (find the bug).** `nb07.buggy_window_backward` is meant to send the gradient $g$
# of one max-pooling window back to its input. Predict what it gives for the window
# $\begin{pmatrix}4&4\\1&2\end{pmatrix}$ and $g = 1$, run the cell, then find the bug and write the
# repaired function (at a tie, the first maximum in row-major order wins, as in TensorFlow).

# %%
import inspect

print(inspect.getsource(nb07.buggy_window_backward))
tie = np.array([[4.0, 4.0], [1.0, 2.0]])
with tf.GradientTape() as tape:
    t = tf.constant(tie[None, :, :, None])
    tape.watch(t)
    pooled = tf.nn.max_pool2d(t, 2, 2, "VALID")
print("buggy:\n", nb07.buggy_window_backward(tie, 1.0), "\nTensorFlow:\n", tape.gradient(pooled, t).numpy()[0, :, :, 0])

# %%
def window_backward(window, g):
    ...


answer = None  # replace with: answer = window_backward
result = nb07.fix_window_backward.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# The mask `window == window.max()` is true at *every* tied maximum, so the window passes on more
# gradient than it received. Send $g$ to one input, the first maximum:
#
# ```python
# def window_backward(window, g):
#     out = np.zeros_like(window, dtype=float)
#     out[np.unravel_index(np.argmax(window), window.shape)] = g
#     return out
#
# answer = window_backward
# ```
# </details>
#
# Further reading: I. Goodfellow, Y. Bengio and A. Courville, *Deep Learning*, MIT Press, 2016,
# chapter 9 (<http://www.deeplearningbook.org/contents/convnets.html>).

# %% [markdown]
# ## 10. The other convolutions of the course: transposed, depthwise-separable, dilated
#
# Notebooks 03 to 05 introduced dilated, transposed and depthwise-separable convolutions. Their
# backward passes follow from the two rules of this
# notebook: the weight gradient correlates the layer's input with the output gradient, and the
# input gradient sends the output gradient back along the connections of the forward pass. Each
# is checked like the ordinary convolution of section 5.
#
# ### Transposed convolution is the input gradient of a convolution
#
# Notebook 04 wrote the stride-2 convolution of a $4\times4$ image with its $2\times2$ kernel $K_1$ as
# a matrix, $y = C\,x$, and found that the transposed convolution is $C^\top$. The chain rule gives
# $\partial L/\partial x = C^\top\,\partial L/\partial y$: the input gradient of that convolution, with
# the output gradient set to notebook 04's $2\times2$ input $X$, *is* the transposed convolution of $X$.

# %%
X_small = np.array([[0., 1.], [2., 3.]])  # notebook 04's input X and kernel K1
K1 = np.array([[0., 1.], [2., 3.]])
_, cache_t = ops.conv2d_forward(np.zeros((1, 4, 4, 1)), K1[:, :, None, None], None, stride=2)
as_gradient = ops.conv2d_backward(as4d(X_small), cache_t)[0][0, :, :, 0]
transposed, _ = ops.conv2d_transpose_forward(as4d(X_small), K1[:, :, None, None], None, stride=2)
tf_transposed = tf.nn.conv2d_transpose(as4d(X_small), K1[:, :, None, None], output_shape=(1, 4, 4, 1),
                                       strides=2, padding="VALID").numpy()
print("dL/dx of the stride-2 convolution, with dL/dy = X:\n", as_gradient)
print("== ops.conv2d_transpose_forward(X):", np.array_equal(as_gradient, transposed[0, :, :, 0]),
      "| == tf.nn.conv2d_transpose(X):", np.allclose(as_gradient, tf_transposed[0, :, :, 0]))

# %% [markdown]
# ### Depthwise-separable convolution
#
# `ops.separable_conv2d_forward` (notebook 05) is a depthwise stage, a grouped convolution with
# `groups = C_in`, followed by a $1\times1$ convolution. Its backward pass applies the chain rule
# through both: the $1\times1$ stage's input gradient is the upstream gradient of the depthwise stage.
# Checked in float64 against TensorFlow's automatic differentiation of `tf.nn.separable_conv2d`
# and against finite differences, with stride 2, `"same"` padding and a depth multiplier of 2:

# %%
sep = np.random.default_rng(3)
x_sep, depthwise_kernel, pointwise_kernel, bias_sep = (sep.standard_normal((2, 5, 5, 3)), sep.standard_normal((3, 3, 3, 2)),
                                                       sep.standard_normal((1, 1, 6, 4)), sep.standard_normal(4))
forward_sep = lambda x, dw, pw, b: ops.separable_conv2d_forward(x, dw, pw, b, stride=2, padding="same")
out_sep, cache_sep = forward_sep(x_sep, depthwise_kernel, pointwise_kernel, bias_sep)
upstream_sep = sep.standard_normal(out_sep.shape)

tensors = [tf.constant(a) for a in (x_sep, depthwise_kernel, pointwise_kernel, bias_sep)]
with tf.GradientTape() as tape:
    tape.watch(tensors)
    out_tf = tf.nn.separable_conv2d(tensors[0], tensors[1], tensors[2], strides=[1, 2, 2, 1], padding="SAME") + tensors[3]
    loss = tf.reduce_sum(out_tf * upstream_sep)
grads_tf = tape.gradient(loss, tensors)
grads_numpy = ops.separable_conv2d_backward(upstream_sep, cache_sep)
numeric_sep = ops.check_gradients(forward_sep, ops.separable_conv2d_backward,
                                  [x_sep, depthwise_kernel, pointwise_kernel, bias_sep], dout=upstream_sep, verbose=False)
print("forward, numpy vs tf.nn.separable_conv2d: rel_error < 1e-12:", ops.rel_error(out_sep, out_tf.numpy()) < 1e-12)
for name, ours, theirs, numeric_error in zip(["dx", "d depthwise", "d pointwise", "d bias"], grads_numpy, grads_tf,
                                             numeric_sep.values()):
    print(f"{name:12s} {str(ours.shape):14s} vs tf.GradientTape rel_error < 1e-12: "
          f"{ops.rel_error(ours, theirs.numpy()) < 1e-12},  vs finite differences < 1e-9: {numeric_error < 1e-9}")

# %% [markdown]
# ### Dilated convolution, and a broken backward pass that a gradient check catches
#
# The forward pass reads, for output pixel $(y, x)$ and tap $(i, j)$, the padded input pixel
# $(y s + i d,\; x s + j d)$. The backward pass must send the gradient back along the same
# connections. Tap by tap, with $P_{ij}$ the input pixels tap $(i,j)$ read (one strided slice):
#
# $$ \frac{\partial L}{\partial w_{ij}} = P_{ij}^\top\,\frac{\partial L}{\partial Y}, \qquad
#    \frac{\partial L}{\partial P_{ij}} \mathrel{+}= \frac{\partial L}{\partial Y}\; w_{ij}^\top. $$
#
# `ops.dilated_conv2d_backward` does exactly this. Notebook 03 retold a blog post (J. D. Seo,
# "ICLR 2016 — Implementing Context Module in Tensorflow with Interactive Code [Manual Back Prop
# with TF]", March 2018) that trained the context module of F. Yu and V. Koltun (2016,
# *Multi-scale context aggregation by dilated convolutions*) on MNIST: 77 % with automatic
# differentiation, 75 % with a hand-written dilated backprop. The author found that his
# hand-written backward pass "is wrong", but the post does not say what the mistake was.
# `ops.dilated_conv2d_backward_broken` is this course's own reconstruction of a typical mistake,
# not the blog post's code: the same code, copied from an ordinary convolution's backward pass,
# that looks for tap $(i, j)$ at $(ys + i,\; xs + j)$, forgetting the gaps.
# Shapes are right, the bias gradient is right, and for $d = 1$ the whole thing is right, which
# is how such a bug survives tests that only try $d = 1$:

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 9, 9, 3))
w = rng.standard_normal((3, 3, 3, 4))
b = rng.standard_normal(4)
_, cache1 = ops.conv2d_forward(x, w, b, padding="same", dilation=1)
dout1 = rng.standard_normal((2, 9, 9, 4))
same = all(np.array_equal(g1, g2) for g1, g2 in zip(ops.dilated_conv2d_backward(dout1, cache1),
                                                    ops.dilated_conv2d_backward_broken(dout1, cache1)))
print("d = 1: broken backprop == correct backprop:", same)

# %% [markdown]
# The gradient check of notebook 06 (centred finite differences in float64: about $10^{-10}$ for a
# correct backward pass, anything above $10^{-7}$ is a bug) tells them apart at once. With $d = 2$:

# %%
def forward_d2(x, w, b):
    return ops.conv2d_forward(x, w, b, padding="same", dilation=2)


def shown(error):
    return "< 1e-8, ok" if error < 1e-8 else f"{error:.2f}, WRONG"


checks = {name: ops.check_gradients(forward_d2, backward, [x, w, b], verbose=False)
          for name, backward in (("correct", ops.dilated_conv2d_backward),
                                 ("broken", ops.dilated_conv2d_backward_broken))}
pd.DataFrame({name: {f"d{k}": shown(e) for k, e in errors.items()} for name, errors in checks.items()}).T

# %% [markdown]
# The gradient check exposes the broken version at once: its input and weight gradients are off
# by more than 100 % of their size; only the bias gradient (a plain sum of $\partial L/\partial Y$)
# survives.
#
# **Exercise 7.** Write `read(y, x, i, j, s, d)`: the `(row, col)` of the padded input that tap
# $(i, j)$ of output pixel $(y, x)$ reads, for stride $s$ and dilation $d$. (This one line is what
# the broken backprop gets wrong.)

# %%
def read(y, x, i, j, s, d):
    ...  # your code


answer = None  # when read is written: answer = read
result = nb07.tap_position.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def read(y, x, i, j, s, d):
#     return (y * s + i * d, x * s + j * d)
#
# answer = read
# ```
# </details>
#
# ### The whole network: numpy backprop vs automatic differentiation
#
# `numpy_net.NumpyContextNet` is the context classifier of notebook 03 in numpy (front-end, Basic
# context module, dense head), built from `course_utils.ops`, with a choice of convolution backward
# pass. Copy its weights into a Keras model and compare its gradients with TensorFlow's automatic
# differentiation on a batch of images (in float32, so relative errors below $10^{-4}$, the
# table's threshold, are rounding). The
# images come from the budget `numpy_context`, which also trains the network below:
#
# **Exercise 8 (predict, then check).** Before you run the comparison: the network's convolutions
# are `front_end` ($d = 1$) and `ctx1` ... `ctx8` with dilations $1, 1, 2, 4, 8, 16, 1, 1$. Which
# of them will get the right kernel gradient from the *broken* backward pass? Give a set of layer
# names, then run the next cell and read the table.

# %%
answer = None
result = nb07.broken_right_layers.check(answer)

# %%
np_budget = config.budget("numpy_context")
np_data = experiments.load_data(np_budget)
print(f"dataset: {np_data.title}, images {np_data.input_shape}, {np_data.num_classes} classes")
net = numpy_net.NumpyContextNet(np_data.input_shape, np_data.num_classes, channels=4, init="he_normal", seed=0)
xb, yb = np_data.x_train[:32], np_data.y_train[:32]
keras_net = net.to_keras()
with tf.GradientTape() as tape:
    logits = keras_net(xb)
    loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True))
gradients = tape.gradient(loss, keras_net.trainable_weights)
autodiff = {v.path.split("/")[-2]: g.numpy()  # layer name -> kernel gradient
            for v, g in zip(keras_net.trainable_weights, gradients) if v.path.endswith("kernel")}

rows = {}
for name, backward in (("correct", ops.dilated_conv2d_backward), ("broken", ops.dilated_conv2d_backward_broken)):
    _, grads = net.loss_and_grads(xb, yb, backward)
    rows[name] = {f"{layer} (d={d})": ops.rel_error(grads[layer][0], autodiff[layer]) for layer, d in net.conv_layers}
pd.DataFrame(rows).map(lambda e: "< 1e-4" if e < 1e-4 else f"{e:.2f}")

# %% [markdown]
# <details><summary>Solution of exercise 8</summary>
#
# ```python
# answer = {"ctx7", "ctx8"}
# ```
# </details>
#
# The correct backprop matches autodiff on every layer. The broken one is right on the layers
# *above* the first dilated layer it meets going backwards ($d = 1$: `ctx8`, `ctx7`) and wrong on
# `ctx6` and everything below it, because its wrong $\partial L/\partial x$ flows on into the layers below.
#
# ### Training with the broken gradient
#
# Does it matter? The blog post's broken network still learned (75 % against 77 %). Train the numpy
# network twice from the same identity initialisation, once with each backward pass, with Adam
# on the budget `numpy_context`:

# %%
# NBVAL_IGNORE_OUTPUT
np_runs = {}
for name, backward in (("correct backprop", ops.dilated_conv2d_backward),
                       ("broken backprop", ops.dilated_conv2d_backward_broken)):
    net = numpy_net.NumpyContextNet(np_data.input_shape, np_data.num_classes, channels=4, init="identity", seed=0)
    losses = numpy_net.train_numpy(net, np_data.x_train, np_data.y_train, np_budget.epochs, np_budget.batch_size,
                                conv_backward=backward, seed=0)
    accuracy = float(np.mean(net.predict(np_data.x_test) == np_data.y_test))
    np_runs[name] = (losses, accuracy)
    print(f"{name}: final loss {np.mean(losses[-10:]):.3f}, test accuracy {accuracy:.3f} on {np_data.title} "
          f"({np_budget.epochs} epoch(s) of {len(np_data.x_train)} images)")

# %%
plots.plot_training_runs({name: losses for name, (losses, _) in np_runs.items()},
                         {name: acc for name, (_, acc) in np_runs.items()},
                         title=f"numpy context network on {np_data.title}: correct vs broken dilated backprop")
plt.show()

# %% [markdown]
# The broken run still learns, mostly through the parts its bug does not touch (the dense head,
# the $d = 1$ layers above the first dilated one) and through gradients that are wrong but still
# correlated with the right ones. With the full budget it ends with a higher loss and a lower test
# accuracy than the correct run (0.732 against 0.747 in the saved run), a gap much like the blog
# post's 75 % against 77 %, although with a different bug and dataset. That is the
# dangerous kind of bug: the loss goes down, the accuracy looks plausible, and only a gradient
# check says that the code is wrong.
#
# ## What to remember
#
# * The weight gradient is the correlation of the layer's input with the output gradient,
#   summed over the batch.
# * The input gradient is a full convolution of the output gradient with the kernel rotated by $180°$.
# * Max-pooling routes each window's gradient to one input, its maximum (the first one at a tie);
#   average pooling shares it equally among the window's inputs.
# * Dilated, transposed and separable convolutions follow the same two rules; the transposed
#   convolution *is* a convolution's input gradient.
# * Check every hand-written backward pass with finite differences or autodiff, with every option
#   on: a dilated backward pass that forgets the gaps is right for $d = 1$ only.
