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
# # 02 · Receptive fields
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/02_receptive_field.ipynb)
#
# The **receptive field** (RF) of a unit is the patch of the input image it depends on. A
# $3\times3$ convolution sees $3\times3$ pixels; a unit deep in a network sees much more,
# because it looks at units that themselves look at patches. This notebook
#
# 1. answers the notes' question: how do we get a $5\times5$ RF with $3\times3$ kernels?
# 2. derives the **jump / rf / start** recurrences and replays the notes' walk-through
#    ($10\times10 \to 8\times8 \to 6\times6 \to$ max-pool $\to 3\times3$), slips included;
# 3. shows how **stride and pooling** make the RF grow faster, and why padding does not;
# 4. computes the RF of real networks (VGG16, ResNet50, MobileNetV2), checked by gradients;
# 5. contrasts the **theoretical** RF with the **effective** one, trains a small network to
#    see what training changes (its first-layer filters, its feature maps, its effective RF),
#    and says why the RF matters for dense prediction;
# 6. ends with an explorer and exercises.
#
# Every table comes from `course_utils.receptive_field`, which reads plain layer lists
# (`["conv3", "conv3", "pool2"]`) and Keras models alike, and every RF is checked once more
# by measuring which input pixels a unit's gradient reaches.
#
# **Source.** *The notes* are the lecture notes *Advanced Convolutions, Batch Normalization
# and Receptive Field* (EIP4 course, Session 3).

# %%
# Open in Colab: https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/02_receptive_field.ipynb
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

from course_utils import arithmetic, config, experiments, params, plots, widgets
from course_utils import receptive_field as rf
from course_utils.exercises import nb02

keras.utils.set_random_seed(0)


def conv_stack(size, layers, name):
    """A Keras Sequential of ``layers`` on a one-channel size x size input."""
    return keras.Sequential([keras.Input((size, size, 1))] + layers, name=name)


# %% [markdown]
# ## 1. Stacking $3\times3$ convolutions
#
# The notes: *"We get a receptive field of $3\times3$ when we convolve by $3\times3$. What
# should we do to get a receptive field of $5\times5$ when we convolve by $3\times3$?"*
# Stack a second one. Each unit of layer 2 looks at $3\times3$ units of layer 1, and
# neighbouring layer-1 units are one pixel apart, so together they cover
# $3 + 2 = 5$ pixels along each axis. Below, along one axis of a $7$-pixel input: every
# layer's units sit at the centre of their receptive field, and the blue cone is what the
# central output unit depends on.

# %%
fig = plots.plot_rf_stack(["conv3", "conv3"], input_size=7)

# %% [markdown]
# Three layers see $7\times7$, $n$ layers $(2n+1)\times(2n+1)$. Why not use one $5\times5$ or
# $7\times7$ kernel instead? VGG's argument: the stack has **fewer parameters** and **more
# non-linearities** (a ReLU after every layer). With 64 channels in and out:

# %%
rows = []
for name, layers in [("one 5x5", ["conv5-64"]), ("two 3x3", ["conv3-64", "conv3-64"]),
                     ("one 7x7", ["conv7-64"]), ("three 3x3", ["conv3-64"] * 3)]:
    p = params.parameter_table(layers, input_size=32, input_channels=64)
    rows.append({"stack": name, "RF": int(rf.receptive_field_table(layers)["rf"].iloc[-1]),
                 "parameters": p.attrs["total"], "ReLUs": len(layers)})
pd.DataFrame(rows)

# %% [markdown]
# ## 2. The recurrences
#
# Follow four numbers through the layers, along each axis (the notes write them for
# layer $l$ from layer $l-1$):
#
# $$n_{out} = \left\lfloor \frac{n_{in} + 2p - k}{s} \right\rfloor + 1 \qquad
# j_{out} = j_{in}\, s \qquad r_{out} = r_{in} + (k - 1)\, j_{in} \qquad
# start_{out} = start_{in} + \left(\frac{k - 1}{2} - p\right) j_{in}$$
#
# * $n$: the number of units (the output size of notebook 01);
# * $j$, the **jump**: how many input pixels apart two neighbouring units are. It starts at
#   1 and is multiplied by every stride;
# * $r$, the **receptive field**: each new layer adds $k-1$ neighbouring units, which are
#   $j_{in}$ pixels apart;
# * $start$: the centre of the first unit's RF, in input pixels (the first pixel's centre
#   is 0). Padding moves it; it never changes $r$.
#
# The input itself has $j = 1$, $r = 1$, $start = 0$. A dilated kernel enters with its span
# $k_{eff} = d(k-1)+1$, a pooling layer like a convolution with its window and stride.
#
# The notes then write three one-layer examples:
#
# * $RF1 = 1 + (3-1)\cdot 1 = 3$
# * $RF2 = 1 + (3-1)\cdot(1\cdot1) = 3$ "(padding has no effect)"
# * $RF3 = 1 + (3-1)\cdot(1\cdot2) = 4$ "(stride has effect!)"
#
# Evaluate them:

# %%
print("RF1 =", 1 + (3 - 1) * 1, " RF2 =", 1 + (3 - 1) * (1 * 1), " RF3 =", 1 + (3 - 1) * (1 * 2))

# %% [markdown]
# The third line is $5$, not $4$. It is also worth reading what it describes: $j_{in} = 2$,
# so the $3\times3$ kernel is applied to units that are already 2 pixels apart, i.e.
# **after** a stride-2 layer. A stride never widens the RF of its own layer; it multiplies
# the jump, and the *next* layer grows twice as fast. The tables of the corresponding
# stacks (a 10-pixel input):

# %%
for layers in (["conv3"], ["conv3p1"], ["conv3s2"], ["conv1s2", "conv3"], ["conv3s2", "conv3"]):
    t = rf.receptive_field_table(layers, input_size=10)
    print(f"{' -> '.join(layers):16s} jump {t['jump'].tolist()}  rf {t['rf'].tolist()}")

# %% [markdown]
# `conv3p1` (padding 1) has the same RF as `conv3`; `conv3s2` alone still sees 3 pixels;
# the notes' RF3 is the 3x3 layer that follows a stride of 2 from a 1x1 layer (RF 5), and
# after a $3\times3$ stride-2 layer the next $3\times3$ reaches 7.
#
# ## 3. The walk-through of the notes
#
# *"The network is $10\times10$ | $8\times8$ | $6\times6$. Our RF currently is $5\times5$.
# If we apply MaxPooling then ... add $3\times3$ again ..."* The stack is two $3\times3$
# convolutions, a $2\times2$ max-pool and another $3\times3$ convolution, no padding. The
# recurrences with the numbers in:

# %%
WALK = ["conv3", "conv3", "pool2", "conv3"]
for line in plots.walkthrough_lines(WALK, input_size=10):
    print(line)

# %% [markdown]
# RF 5 after the two convolutions, 6 after the pooling, 10 at the end, as in the notes. One
# more slip: the notes write the pooling line as $n_{out} = (6 + 2\cdot0 - 2)/2 = 3$, without
# the $+1$. As written it is 2:

# %%
print("as written   (6 + 2*0 - 2)/2     =", (6 + 2 * 0 - 2) / 2)
print("the formula  (6 + 2*0 - 2)//2 + 1 =", (6 + 2 * 0 - 2) // 2 + 1,
      "| course_utils.arithmetic:", arithmetic.pool_output_size(6, 2),
      "| Keras MaxPooling2D:", keras.layers.MaxPooling2D(2).compute_output_shape((1, 6, 6, 1))[1])

# %% [markdown]
# The whole table, from the plain list and from the same network built in Keras (the two
# must agree), with the RF of the first unit of every layer drawn on the $10\times10$ input:

# %%
walk_model = conv_stack(10, [keras.layers.Conv2D(1, 3, name="conv3"), keras.layers.Conv2D(1, 3, name="conv3_2"),
                             keras.layers.MaxPooling2D(2, name="pool2"), keras.layers.Conv2D(1, 3, name="conv3_3")],
                        name="walkthrough")
walk_table = rf.receptive_field_table(WALK, input_size=10)
keras_table = rf.receptive_field_table(walk_model)
columns = ["n_out", "jump", "rf", "start"]
print("Keras model and list agree:", keras_table[columns].equals(walk_table[columns]))
walk_table

# %%
grid_image = np.indices((10, 10)).sum(axis=0) % 2 * 0.15 + 0.8      # a faint 10x10 checkerboard
fig = plots.plot_rf_boxes(grid_image, WALK, unit=(0, 0),
                          title="RF of unit (0, 0) of each layer on the 10x10 input")

# %% [markdown]
# The last unit sees all 10 pixels, and its RF is centred on $start = 4.5$, the middle of
# pixels 0 to 9. The formulas can be checked without them: the gradient of a unit with
# respect to the input is non-zero exactly on the pixels it depends on.
# `empirical_receptive_field` measures it on a copy of the Keras model made linear and
# positive (so nothing cancels), for unit $(0, 0)$ of every layer:

# %%
walk_analysis = rf.analyse(walk_model)
for layer in ["conv3", "conv3_2", "pool2", "conv3_3"]:
    measured = rf.empirical_receptive_field(walk_model, layer, unit=(0, 0))
    print(f"{layer:8s} gradient box {measured.bbox} -> {measured.size[0]}x{measured.size[1]}, "
          f"table box {walk_analysis.box(layer, (0, 0), clip=True)}")

# %% [markdown]
# The same cone along one axis: pooling halves the number of units and doubles the
# spacing, so the last $3\times3$ kernel spans $2\cdot(3-1) = 4$ more pixels.

# %%
fig = plots.plot_rf_stack(WALK, input_size=10)

# %% [markdown]
# ## 4. Stride, pooling, padding
#
# Unrolling the recurrence,
#
# $$r_L = 1 + \sum_{l=1}^{L} (k_l - 1) \prod_{i<l} s_i ,$$
#
# every kernel's growth is multiplied by all the strides below it. Depth alone grows the RF
# linearly; each stride (or pooling) multiplies the growth of everything above it; dilation
# (notebook 03) grows it without touching the resolution.

# %%
STACKS = {
    "six 3x3": ["conv3"] * 6,
    "stride 2 in layer 2": ["conv3", "conv3s2"] + ["conv3"] * 4,
    "pool after layer 2": ["conv3", "conv3", "pool2", "conv3", "conv3", "conv3"],
    "dilations 1, 2, 4, 8": ["conv3", "conv3d2", "conv3d4", "conv3d8"],
}
fig = plots.plot_rf_growth(STACKS)

# %%
layers = STACKS["stride 2 in layer 2"]
layer_specs = [s for s in rf.analyse(layers).network if s.kind != "input"]
closed_form = 1 + sum((s.effective_kernel[0] - 1) * int(np.prod([t.stride[0] for t in layer_specs[:i]]))
                      for i, s in enumerate(layer_specs))
print("closed form:", closed_form, "| table:", int(rf.receptive_field_table(layers)["rf"].iloc[-1]))

# %% [markdown]
# Padding changes what the units look at, not how much: with `"same"` padding the RF
# sizes are those of the walk-through, only `start` moves and the maps do not shrink. The
# first unit of each `"same"` convolution is centred on the first *real* pixel ($start = 0$),
# and its RF reaches into the zero padding; after the pooling it is centred between the
# first two pixels ($start = 0.5$):

# %%
same = rf.receptive_field_table(["conv3same", "conv3same", "pool2same", "conv3same"], input_size=10)
pd.DataFrame({"layer": walk_table["layer"], "rf valid": walk_table["rf"], "rf same": same["rf"],
              "start valid": walk_table["start"], "start same": same["start"],
              "n_out valid": walk_table["n_out"], "n_out same": same["n_out"]})

# %% [markdown]
# ## 5. Receptive fields of real networks
#
# The same function reads any Keras model. VGG16 (built with `weights=None`: the weights do
# not change the RF) is five blocks of $3\times3$ convolutions with `"same"` padding, each
# closed by a $2\times2$ max-pool:

# %%
vgg = keras.applications.VGG16(weights=None, include_top=False, input_tensor=keras.Input((224, 224, 3), name="image"))
vgg_table = rf.receptive_field_table(vgg)
vgg_table

# %% [markdown]
# A unit of `block5_conv3` sees $196\times196$ pixels and one of `block5_pool` $212\times212$,
# almost the whole $224\times224$ image, while `block1_conv2` sees only $5\times5$. The jump
# of 32 at the end is the product of the five pooling strides. Check one row by gradient on
# the real VGG16 (central unit of `block3_pool`):

# %%
measured = rf.empirical_receptive_field(vgg, "block3_pool")
table_rf = int(vgg_table.set_index("layer").loc["block3_pool", "rf"])
print(f"block3_pool: gradient box {measured.size[0]}x{measured.size[1]}, table RF {table_rf}")

# %% [markdown]
# Deeper networks see far more than their input: the theoretical RF of ResNet50's and
# MobileNetV2's last layers is larger than the $224\times224$ image (branches and merges
# included; the outer part of such an RF covers only padding):

# %%
rows = []
for build in (keras.applications.ResNet50, keras.applications.MobileNetV2):
    net = build(weights=None, include_top=False, input_shape=(224, 224, 3))
    last = rf.receptive_field_table(net).iloc[-1]
    rows.append({"network": net.name, "layers": len(net.layers), "last layer": last["layer"],
                 "output": f"{last['n_out']}x{last['n_out']}", "jump": last["jump"], "RF": last["rf"]})
pd.DataFrame(rows)

# %% [markdown]
# ## 6. Theoretical and effective receptive field
#
# The RF above is **theoretical**: the pixels a unit *can* depend on. Luo et al. (2016,
# *Understanding the effective receptive field in deep convolutional neural networks*)
# measured how much each pixel *actually* influences a unit, with the same gradient, and
# found the influence concentrated in a Gaussian-like blob in the middle of the RF, much
# smaller than the RF itself: the **effective** receptive field. The notes put it as "the
# information in each pixel stays localised".
#
# We measure it on a small network: six $3\times3$ convolutions with ReLU and `"same"`
# padding on a $32\times32$ input (theoretical RF $13\times13$), once with random
# (Glorot) weights and once with all weights equal to one. The map is the average of the
# absolute input gradient of the central unit over 8 random inputs; the dashed square is
# the theoretical RF. `rf.mean_effective_gradient(model)` computes that average.

# %%
def small_net(init, name):
    layers = [keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init,
                                  name=f"conv{i + 1}") for i in range(6)]
    return conv_stack(32, layers, name=name)


random_net = small_net(keras.initializers.GlorotUniform(seed=0), "random_init")
ones_net = small_net("ones", "ones_init")
maps = {"exact (linear, positive copy)": rf.empirical_receptive_field(random_net).gradient,
        "random init, ReLU": rf.mean_effective_gradient(random_net),
        "ones init, ReLU": rf.mean_effective_gradient(ones_net)}
box = rf.analyse(random_net).box()
print("theoretical RF of the central unit (top, left, bottom, right):", box)
fig = plots.plot_effective_rf(maps, box=box)

# %% [markdown]
# Every pixel inside the box has a non-zero gradient, but most of the influence sits in the
# middle. Even the exact, all-positive linear network is peaked: a centre pixel reaches the
# output through many more paths than a pixel at the edge of the RF (along each axis the number of
# paths is a trinomial coefficient). Summarised as the side of the square around the
# centre that holds 50% and 95% of the gradient, and as its standard deviation:

# %%
plots.effective_rf_table(maps, box)

# %% [markdown]
# The gap grows with depth. For $n$ stacked $3\times3$ layers with equal positive weights
# the gradient along one axis is the $n$-fold convolution of $(1, 1, 1)$: its standard
# deviation is $\sqrt{2n/3}$ (the sum of $n$ independent uniform steps in $\{-1, 0, 1\}$),
# so the effective RF grows like $\sqrt{n}$ while the theoretical one grows like $n$:

# %%
rows = []
for n in (1, 2, 4, 8, 16):
    model = conv_stack(64, [keras.layers.Conv2D(1, 3, padding="same") for _ in range(n)], name=f"depth_{n}")
    g = rf.empirical_receptive_field(model).gradient
    rows.append({"layers": n, "theoretical RF": int(rf.receptive_field_table(model)["rf"].iloc[-1]),
                 "effective RF (95%)": plots.effective_rf_size(g, 0.95),
                 "std measured": round(plots.effective_rf_spread(g)[1], 3), "sqrt(2n/3)": round(np.sqrt(2 * n / 3), 3)})
depth = pd.DataFrame(rows)
plots.plot_rf_vs_erf(depth["layers"], depth["theoretical RF"], depth["effective RF (95%)"])
depth

# %% [markdown]
# Stride, pooling and dilation widen both. All the networks so far were untrained; the next
# subsection trains one.
#
# ### What training changes: filters, feature maps, effective RF
#
# Two papers looked inside trained networks:
#
# * M. D. Zeiler and R. Fergus (2014), *Visualizing and Understanding Convolutional
#   Networks* (ECCV): the first layer of a trained network learns oriented edges, bars and
#   colour blobs, and deeper layers respond to larger, more composite patterns (a hierarchy
#   from pixels to edges to parts);
# * W. Luo, Y. Li, R. Urtasun and R. Zemel (2016), *Understanding the Effective Receptive
#   Field in Deep Convolutional Neural Networks* (NeurIPS): besides the Gaussian-like
#   effective RF above, they report that it **grows during training** (networks trained on
#   CIFAR-10 classification and CamVid segmentation), while staying much smaller than the
#   theoretical one.
#
# We train one small network on the course's dataset: a $7\times7$ convolution with 16
# filters (large enough to see what each filter learned), a $2\times2$ max-pooling and three
# $3\times3$ convolutions with 32 filters, all with ReLU and `"same"` padding, then global
# average pooling and a linear classifier. The budget comes from
# `config.budget("erf_training")`, the dataset from `config.dataset()`. Before training we
# build the same network with the same random initial weights (`fit_model` seeds the
# generator with 0 before it builds the model, and so do we), so that every comparison
# below is between the same network before and after training.
#
# The training cell also measures the effective RF of the central unit of the last
# convolution `conv4`, untrained and trained, as in the previous cells (averaged over 32
# random inputs rather than 8, for smoother maps), and prints the comparison: the numbers depend on the budget and the
# dataset, so the sentence is chosen by the numbers.

# %%
# NBVAL_IGNORE_OUTPUT
# Trains one small network (about a minute on a laptop CPU with the full budget).
budget = config.budget("erf_training")
data = experiments.load_data(budget)


def erf_net():
    conv = lambda filters, k, name: keras.layers.Conv2D(filters, k, padding="same", activation="relu", name=name)
    return keras.Sequential([keras.Input(data.input_shape), conv(16, 7, "conv1"),
                             keras.layers.MaxPooling2D(name="pool1"),
                             conv(32, 3, "conv2"), conv(32, 3, "conv3"), conv(32, 3, "conv4"),
                             keras.layers.GlobalAveragePooling2D(name="gap"),
                             keras.layers.Dense(data.num_classes, name="logits")], name="erf_net")


experiments.set_seed(0)
untrained = erf_net()  # the weights fit_model starts from
run = experiments.fit_model("erf_net", erf_net, data, budget)
trained = run.model
print(f"{data.title}: {len(data.x_train)} training and {len(data.x_test)} test images, {budget.epochs} epochs, "
      f"test accuracy {run.test_accuracy:.3f}")

erf_box = rf.analyse(trained).box("conv4")
erf_maps = {name: rf.mean_effective_gradient(net, "conv4", inputs=32)
            for name, net in (("untrained", untrained), ("trained", trained))}
erf_table = plots.effective_rf_table(erf_maps, erf_box)
(std_before, std_after), (side_before, side_after) = erf_table["std (pixels)"], erf_table["95% of the gradient"]
change = "widened" if std_after > std_before else "narrowed" if std_after < std_before else "did not change"
print(f"In this run training {change} the effective RF of conv4: its std went from {std_before} to {std_after} "
      f"pixels, the side holding 95% of the gradient from {side_before} to {side_after} "
      f"(theoretical RF {erf_table['theoretical RF'][0]}). "
      + ("That is the direction Luo et al. report." if std_after > std_before else
         "So this run does not reproduce the growth Luo et al. report (after far longer training, "
         "on CIFAR-10 and CamVid)."))
erf_table

# %% [markdown]
# **Learned filters (Zeiler & Fergus).** The 16 filters of `conv1` before and after training,
# filter $k$ in column $k$ of both rows; each is scaled on its own (grey is zero, white its
# most positive and black its most negative weight). Before training they are the random
# (Glorot uniform) initial weights, noise without structure. Training makes them smoother,
# and several turn into a light/dark transition at one orientation (an edge detector) or a
# light or dark stripe (a bar). A run this short on grey images only starts the process;
# the first layer of Zeiler & Fergus's ImageNet network, trained for days on colour
# images, shows crisp edges at every orientation and colour blobs.

# %%
fig = plots.plot_filters({"before training": untrained.get_layer("conv1").get_weights()[0],
                          "after training": trained.get_layer("conv1").get_weights()[0]})

# %% [markdown]
# **Feature maps.** What those filters compute on one test image: the outputs of the first 8
# channels of `conv1` ($28\times28$ on Fashion-MNIST, after the ReLU) and of `conv4` (after
# the pooling: $14\times14$, each unit seeing a $20\times20$ patch), each channel scaled to
# its own maximum. Some `conv1` channels respond to the whole bright area of the object,
# others only along one of its edges (one orientation, one polarity); the coarser `conv4`
# maps respond to larger parts of it, in Zeiler & Fergus's hierarchy the step from edges
# towards parts. A black map is a channel this image does not excite at all.

# %%
# the outputs of conv1 and conv4 for an input image (a model sharing the trained layers)
layer_outputs = keras.Model(trained.inputs[0], [trained.get_layer(n).output for n in ("conv1", "conv4")])
first, last = layer_outputs(data.x_test[:1])
fig = plots.plot_feature_maps({"conv1": first[0], "conv4": last[0]}, image=data.x_test[0])

# %% [markdown]
# **Effective RF (Luo et al.).** The maps of the central unit of `conv4` before and after
# training, with the theoretical RF (dashed) and the rows through the peaks; the training
# cell printed their sizes. Read the printed sentence, not your expectation: at this budget
# (about a minute of training, against Luo et al.'s full training runs on CIFAR-10 and
# CamVid) the trained map may come out *more* concentrated than the untrained one, and a
# short run that does so does not contradict the paper, nor confirm it. What the run and
# the paper agree on is the first lesson of this section: trained or not, most of the
# influence sits in a blob in the middle of the theoretical RF.

# %%
fig = plots.plot_effective_rf(erf_maps, box=erf_box)

# %% [markdown]
# The practical lesson: make the theoretical RF comfortably larger than the objects the
# network must see whole.
#
# ### Why it matters for dense prediction
#
# A classifier needs one answer per image, and its last layers may see the whole image
# through pooling. **Dense prediction** (segmentation, super-resolution, denoising,
# keypoints) needs an answer *per pixel*, and each answer should be informed both by the
# pixel's neighbourhood (edges, for precise boundaries) and by the wider context (is this
# grey patch road or sky?). That requires a large RF **and** full resolution:
#
# * depth alone: the RF grows by 2 per $3\times3$ layer: 14 layers to cover a $28\times28$
#   image;
# * strides / pooling: fast growth, but the map shrinks and must be upsampled again
#   (transposed convolution, notebook 04; FCN, notebook 08);
# * dilation: exponential growth at full resolution. Yu & Koltun's context module
#   (notebook 03) reaches RF 67 in 8 layers:

# %%
context = ["conv3", "conv3", "conv3d2", "conv3d4", "conv3d8", "conv3d16", "conv3", "conv1"]
print("RF after each layer of the context module:", rf.receptive_field_table(context)["rf"].tolist()[1:])
print("3x3 layers needed to cover 28 pixels without stride or dilation:",
      next(n for n in range(1, 30) if rf.receptive_field_table(["conv3"] * n)["rf"].iloc[-1] >= 28))

# %% [markdown]
# ## 7. Explorer
#
# Build a stack layer by layer: each button adds a layer ('same' padding, so the map never
# runs out), and the squares show the RF of the central unit after every layer on a
# Fashion-MNIST image (a drawn image when the dataset is not available). With a stride or a
# pooling in the stack the cyan dots mark the centres of the last layer's units: their
# spacing is the jump. How few layers cover the whole $28\times28$ image? Which stack does it
# without a stride?

# %%
builder = widgets.receptive_field_builder(layers=["conv3", "conv3"])
builder

# %% [markdown]
# ## 8. Exercises
#
# Replace `None` with your answer and run the cell. Solutions are folded below each one.
#
# **1.** How many stacked $3\times3$ convolutions (stride 1) does a unit need to see a
# $5\times5$ patch?

# %%
answer = None
result = nb02.five_by_five.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# answer = 2          # 1 + 2 + 2 = 5
# ```
# </details>
#
# **2.** What is the RF of the last layer of `nb02.STACK`
# (`conv3 -> conv3 stride 2 -> conv3 -> pool2 -> conv3`, no padding)? And **3.** its jump?

# %%
print(nb02.STACK)
answer = None
result = nb02.stack_rf.check(answer)

# %%
answer = None
result = nb02.stack_jump.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# # r: 1 -> 3 -> 5 -> 5 + 2*2 = 9 -> 9 + 1*2 = 11 -> 11 + 2*4 = 19;  j: 1 -> 1 -> 2 -> 2 -> 4 -> 4
# answer = 19         # exercise 2
# answer = 4          # exercise 3
# ```
# </details>
#
# **4.** Write `receptive_field(layers)` for a list of `(kernel, stride)` pairs, using the
# recurrences.

# %%
def receptive_field(layers):
    ...


answer = None  # replace with: answer = receptive_field
result = nb02.receptive_field_function.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def receptive_field(layers):
#     r, j = 1, 1
#     for k, s in layers:
#         r += (k - 1) * j     # uses the jump *before* this layer's stride
#         j *= s
#     return r
#
# answer = receptive_field
# ```
# </details>
#
# **5.** With at most four $3\times3$ convolutions, all of stride 1, build a stack (tokens
# like `"conv3"` or `"conv3d2"`) whose RF covers a whole $28\times28$ image.

# %%
answer = None
result = nb02.cover_the_image.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# answer = ["conv3", "conv3d2", "conv3d4", "conv3d8"]    # RF 3, 7, 15, 31: dilation doubles the growth
# ```
# </details>
#
#
# **6. Find the bug.** `nb02.buggy_receptive_field` is right for every stack of stride-1 layers.
# Predict what it gives for a stride-2 $3\times3$ layer followed by a $3\times3$ layer, run the
# cell, then find the bug and write the repaired function.

# %%
import inspect

print(inspect.getsource(nb02.buggy_receptive_field))
print("buggy_receptive_field([(3, 2), (3, 1)]) =", nb02.buggy_receptive_field([(3, 2), (3, 1)]),
      "  table:", int(rf.receptive_field_table(["conv3s2", "conv3"])["rf"].iloc[-1]))

# %%
def receptive_field(layers):
    ...


answer = None  # replace with: answer = receptive_field
result = nb02.fix_receptive_field.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# A layer widens the field by $(k-1)$ times the jump of its *input*; the buggy version multiplies
# the jump by the stride first. Swap the two lines:
#
# ```python
# def receptive_field(layers):
#     r, j = 1, 1
#     for k, s in layers:
#         r = r + (k - 1) * j
#         j = j * s
#     return r
#
# answer = receptive_field
# ```
# </details>
#
# ## What to remember
#
# * $j_{out} = j_{in} s$ and $r_{out} = r_{in} + (k-1) j_{in}$: a stride acts on the *next* layers.
# * Two stacked $3\times3$ convolutions see $5\times5$ with fewer parameters than one $5\times5$.
# * Padding moves the receptive field (its start), it does not resize it.
# * The effective receptive field is a Gaussian-like blob, much smaller than the theoretical one, trained
#   or not; Luo et al. (2016) see it grow during long training, a short run need not.
# * A trained first layer learns edge, bar and blob detectors (Zeiler & Fergus 2014); its feature maps
#   show where in the image each one responds.
