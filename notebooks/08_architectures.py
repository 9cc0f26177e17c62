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
# # 08 · Architectures: from LeNet to fully convolutional networks
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/08_architectures.ipynb)
#
# The layers of the previous notebooks are assembled here into the networks that shaped the
# field. For each one we build a Keras model (`course_utils.architectures`), count its
# parameters with the formula behind every number (`parameter_table`) and follow its receptive
# field layer by layer (`receptive_field_table`), so that every claim about an architecture is
# something you can compute:
#
# 1. **LeNet-5** (1998), in the modernised form used today: convolution, pooling, fully
#    connected layers;
# 2. **AlexNet** (2012): the same recipe, deeper and wider, split over two GPUs (grouped convolutions);
# 3. **VGG** (2014): only $3\times3$ convolutions, and why;
# 4. **the degradation problem**: deeper plain networks train *worse*;
# 5. **ResNet** (2015): residual blocks;
# 6. **DenseNet** (2017): every layer sees all earlier ones; growth rate and transitions;
# 7. **MobileNet** (2017): depthwise-separable convolutions for small devices;
# 8. **segmentation**, before deep learning and with **fully convolutional networks** (FCN):
#    convolutionalisation, upsampling, skip connections, shift-and-stitch, and a small FCN
#    trained on synthetic images.
#
# **Sources.** *Bilen's lecture* is H. Bilen, *Convolutional Networks 2: Training, deep
# convolutional networks*, Machine Learning Practical, Lecture 8, University of Edinburgh, 2018.
# *The AIL 862 lecture* is AIL 862, Lecture 5 (slides on ResNet, DenseNet, MobileNet,
# segmentation, FCN and the transposed convolution).

# %%
# Open in Colab: https://colab.research.google.com/github/advanced-convolutions/course/blob/main/notebooks/08_architectures.ipynb
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

import inspect
import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf
from IPython.display import display
from keras import layers

from course_utils import arithmetic, config, experiments, ops, plots, segmentation, widgets
from course_utils import architectures as A
from course_utils.exercises import nb08
from course_utils.params import compare_standard_vs_separable, mobilenet_reduction, parameter_table
from course_utils.receptive_field import receptive_field_table

pd.set_option("display.max_rows", 100)
pd.set_option("display.width", 140)

# %% [markdown]
# ## 1. LeNet-5
#
# LeCun, Bottou, Bengio and Haffner's network for handwritten digits ("Gradient-based learning
# applied to document recognition", *Proceedings of the IEEE*, 1998) has the structure every later
# CNN elaborates. Bilen's lecture summarises it as follows, and this is the **modernised LeNet-5**
# that textbooks and frameworks build, and that we build here:
#
# * 2 convolutional layers $\{C1, C3\}$ with a non-linearity (tanh);
# * 2 average-pooling layers $\{S2, S4\}$ (subsampling);
# * 2 fully connected hidden layers $\{C5, F6\}$; C5 is a $5\times5$ convolution on a $5\times5$ map,
#   so it is fully connected even though it is written as a convolution (no weight sharing happens);
# * a softmax classifier.
#
# The 1998 network differs in three places. **C3** is not fully connected to S2: a fixed
# connection table lets six of its maps read 3 of S2's 6 maps, nine read 4, and one reads all 6,
# so C3 has $(6\cdot3 + 9\cdot4 + 1\cdot6)\cdot25 + 16 = 1{,}516$ parameters instead of the 2,416
# below, an early form of the grouped convolution of notebook 05. **S2 and S4** are trainable: each
# unit sums its $2\times2$ window, multiplies by a learned coefficient, adds a learned bias and
# applies a sigmoid (12 and 32 parameters, not 0). The **output layer** is not a softmax but 10
# Euclidean radial-basis-function units, each measuring the squared distance between F6's 84
# outputs and a fixed 84-value code of its class. The "softmax classifier" of Bilen's lecture
# describes the modern variant, and its date, "LeCun et al, 1997", should be 1998.

# %%
lenet = A.lenet5()
parameter_table(lenet)

# %% [markdown]
# The receptive-field table confirms that C5 sees the entire $32\times32$ input, the point
# where a convolution and a dense layer become the same thing (section 9 uses this):

# %%
receptive_field_table(lenet)

# %% [markdown]
# ## 2. AlexNet and grouped convolutions
#
# Krizhevsky, Sutskever and Hinton (2012, *ImageNet classification with deep convolutional
# neural networks*) won ImageNet 2012 with five convolutional layers (ReLU),
# three max-pooling layers, two fully connected hidden layers of 4096 units and a 1000-way
# softmax (plus dropout, data augmentation and local response normalisation, left out here).
# Reported errors on ILSVRC-2010 (from the paper, as quoted in Bilen's lecture):
#
# | Model | Top-1 | Top-5 |
# |---|---|---|
# | Sparse coding | 47.1 % | 28.2 % |
# | SIFT + FVs | 45.7 % | 25.7 % |
# | CNN | 37.5 % | 17.0 % |
#
# The network did not fit on one 3 GB GPU, so each layer was split in two halves, one per GPU,
# and "the GPUs communicate only at certain layers": conv2, conv4 and conv5 only see the
# channels of their own GPU. In today's terms they are **grouped convolutions** with
# `groups=2`: each filter sees $C_{in}/2$ channels, which halves its weights.

# %%
alexnet = A.alexnet(groups=2)
alexnet_one_gpu = A.alexnet(groups=1)
split, single = parameter_table(alexnet), parameter_table(alexnet_one_gpu)
comparison = split[["layer", "output", "formula"]].rename(columns={"formula": "groups=2"})
comparison["groups=1"] = single["formula"]
comparison["saved"] = single["params"] - split["params"]
display(comparison[comparison["groups=1"] != ""])
print(f"total: groups=2 {alexnet.count_params():,}  groups=1 {alexnet_one_gpu.count_params():,}  "
      f"saved {alexnet_one_gpu.count_params() - alexnet.count_params():,}")
print(f"the three dense layers hold {split[split['type'] == 'Dense']['params'].sum() / split['params'].sum():.1%} "
      "of the parameters")

# %% [markdown]
# A grouped convolution is exactly $g$ independent convolutions on channel slices, concatenated.
# Checked with the numpy layers of `course_utils.ops` on a small example:

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 9, 9, 8))
w = rng.standard_normal((3, 3, 4, 6))               # groups=2: each filter sees 8 / 2 = 4 channels
grouped = ops.conv2d_forward(x, w, None, groups=2)[0]
halves = np.concatenate([ops.conv2d_forward(x[..., :4], w[..., :3], None)[0],
                         ops.conv2d_forward(x[..., 4:], w[..., 3:], None)[0]], axis=-1)
print("groups=2 equals two half-size convolutions:", ops.rel_error(grouped, halves) < 1e-12)

# %% [markdown]
# The paper's figure caption counts the neurons of each layer:
# *"The network's input is 150,528-dimensional, and the number of neurons in the network's
# remaining layers is given by 253,440–186,624–64,896–64,896–43,264–4096–4096–1000."*
# Computed from the model:

# %%
caption = [150_528, 253_440, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]   # as printed in the paper
names = ["input", "conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
neurons = [int(np.prod(alexnet.get_layer(n).output.shape[1:])) for n in names]
display(pd.DataFrame({"layer": names, "shape": [str(alexnet.get_layer(n).output.shape[1:]) for n in names],
                      "neurons": neurons, "caption": caption,
                      "match": [a == b for a, b in zip(neurons, caption)]}))
print("conv1 output size for a 224 input:", arithmetic.conv_output_size(224, 11, 4),
      "| for 227:", arithmetic.conv_output_size(227, 11, 4))

# %% [markdown]
# Two numbers do not match, and the mismatch is in the paper: $150{,}528 = 224\cdot224\cdot3$,
# but $11\times11$ windows with stride 4 and no padding do not tile 224 pixels
# ($(224-11)/4 + 1 = 54.25$ positions, so 54). The $55\times55$ maps of the figure need either a
# $227\times227$ input without padding, $(227-11)/4 + 1 = 55$ (Caffe's AlexNet and many
# re-implementations), or the $224\times224$ input with 2 pixels of padding,
# $\lfloor(224+4-11)/4\rfloor + 1 = 55$ (torchvision's AlexNet). And $55\cdot55\cdot96 = 290{,}400$,
# not 253,440. All later layers agree.
#
# ## 3. VGG: only $3\times3$ convolutions
#
# The design choices of Simonyan and Zisserman (2015, *Very deep convolutional networks for
# large-scale image recognition*): very small $3\times3$ kernels, stride 1 ("no loss of
# information"), ReLU, five $2\times2$ max-pools, no normalisation, three fully connected layers.
# Why $3\times3$? A stack of two $3\times3$ layers sees $5\times5$ pixels, three see $7\times7$,
# with fewer parameters and one extra non-linearity per layer. For $C$ channels in and out
# (no biases) one $k\times k$ layer has $k^2C^2$ weights: $2\cdot9C^2 = 18C^2 < 25C^2$ and
# $3\cdot9C^2 = 27C^2 < 49C^2$. Computed, for $C=64$:

# %%
rows = []
for stack, single_layer in ((["conv3-64"] * 2, ["conv5-64"]), (["conv3-64"] * 3, ["conv7-64"])):
    for name, net in ((" + ".join(stack), stack), (single_layer[0], single_layer)):
        rf = receptive_field_table(net, input_size=56)["rf"].iloc[-1]
        params = parameter_table(net, input_size=56, input_channels=64)["params"].sum()
        rows.append({"layers": name, "receptive field": rf, "parameters (with biases)": params})
pd.DataFrame(rows)

# %% [markdown]
# VGG-16 built from `vgg_block`s has exactly as many parameters as Keras' own `VGG16`:

# %%
vgg16 = A.vgg()
print(f"VGG-16 parameters: {vgg16.count_params():,}; same as keras.applications.VGG16:",
      vgg16.count_params() == keras.applications.VGG16(weights=None).count_params())
vgg_table = parameter_table(vgg16)
conv_share = vgg_table[vgg_table["type"] == "Conv2D"]["params"].sum() / vgg_table["params"].sum()
print(f"13 conv layers: {conv_share:.1%} of the parameters, "
      f"{vgg_table[vgg_table['type'] == 'Conv2D']['macs'].sum() / vgg_table['macs'].sum():.1%} of the computation")
vgg_rf = receptive_field_table(vgg16)
vgg_rf[vgg_rf["type"].isin(["Conv2D", "MaxPooling2D"])].tail(5)

# %% [markdown]
# The convolutions do almost all the computation and the dense layers hold almost all the
# parameters. Thirteen small kernels add up: the last convolution sees $196\times196$ pixels and
# each unit of the last pooling layer $212\times212$ of the $224\times224$ input (the `rf` column).
#
# ## 4. Deeper is not automatically better: the degradation problem
#
# Stacking more layers should never hurt in principle: a deeper network could copy a shallower
# one and make its extra layers the identity, reaching *at least* the same training error
# ("a solution by construction"). In practice He, Zhang, Ren and Sun (2016, *Deep residual
# learning for image recognition*) found the opposite. On CIFAR-10, a
# 56-layer plain network has *higher training and test error* than a 20-layer one (their Figure
# 1), and on ImageNet (top-1 error %, 10-crop testing, the AIL 862 lecture's table):
#
# | | plain | ResNet |
# |---|---|---|
# | 18 layers | 27.94 | 27.88 |
# | 34 layers | 28.54 | **25.03** |
#
# The deeper plain network is worse on the *training* set too, so this is not overfitting: the
# optimiser fails to find the good solutions that exist. Residual learning makes the identity
# easy: a block computes $\mathrm{ReLU}(F(x) + x)$, and $F \equiv 0$ is just zero weights.
#
# The construction, checked: a 32-layer residual network whose extra blocks have their last
# batch-norm scale $\gamma$ set to zero computes *exactly* the function of a 20-layer one.

# %%
keras.utils.set_random_seed(0)
resnet20, resnet32 = A.cifar_resnet(20), A.cifar_resnet(32)
for layer in resnet32.layers:
    if layer.weights:
        try:
            layer.set_weights(resnet20.get_layer(layer.name).get_weights())  # copied from the shallow net
        except ValueError:                                                  # an extra block (4 or 5)
            if layer.name.endswith("_bn2"):
                gamma, beta, mean, var = layer.get_weights()
                layer.set_weights([np.zeros_like(gamma), beta, mean, var])
images = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype("float32")
print("ResNet-32 with zeroed extra blocks == ResNet-20:",
      ops.rel_error(resnet20(images, training=False), resnet32(images, training=False)) < 1e-6)

# %% [markdown]
# ### The degradation problem on a CPU budget
#
# He et al.'s observation, tried here: plain and residual networks of 8 and 20 layers
# (`A.cifar_resnet(depth, residual=...)`, $n = 1$ and $n = 3$ blocks per stage, with batch norm;
# narrowed to 8, 16 and 32 filters to fit a CPU), trained with the same seed, data and optimiser
# (Adam, learning rate $10^{-3}$) on a subset of Fashion-MNIST ($28\times28$ greyscale images).
# The full budget is 1,000 training images for 5 epochs; the quick budget (`COURSE_QUICK=1`) 200
# images for 1 epoch, which only checks that the code runs. He et al. trained for 64,000
# iterations of 128 CIFAR-10 images; this is 160 iterations (5 epochs of 32 batches) of 32
# images. The training
# error is Keras' mean over each epoch, measured while training, as in their Figure 1.

# %%
# NBVAL_IGNORE_OUTPUT
# Trains four networks (about three and a half minutes on a 2-core CPU with the full budget).
depth_budget = config.budget("degradation")
depth_data = experiments.load_data(depth_budget)
depth_runs = {}
for residual in (False, True):
    for depth in (8, 20):
        net = lambda: A.cifar_resnet(depth, residual=residual, input_shape=depth_data.input_shape,
                                     num_classes=depth_data.num_classes, widths=(8, 16, 32), bn_momentum=0.9)
        depth_runs[depth, residual] = experiments.fit_model(net().name, net, depth_data, depth_budget,
                                                            from_logits=False)
print(f"{depth_data.title}: {len(depth_data.x_train)} training images, {depth_budget.epochs} epochs, "
      f"batch {depth_budget.batch_size}")
error = {key: 1 - r.history["accuracy"][-1] for key, r in depth_runs.items()}
print("plain:    20 layers worse than 8 (degradation):", error[20, False] > error[8, False])
print("residual: 20 layers at least as good as 8:     ", error[20, True] <= error[8, True])
pd.DataFrame([{"network": r.name, "layers": depth, "shortcuts": residual, "parameters": r.params,
               "final training error": round(error[depth, residual], 3),
               "test error": round(1 - r.test_accuracy, 3), "seconds": round(r.seconds)}
              for (depth, residual), r in depth_runs.items()])

# %%
plots.plot_training_error({"plain": [depth_runs[8, False], depth_runs[20, False]],
                           "residual": [depth_runs[8, True], depth_runs[20, True]]})
plt.show()

# %% [markdown]
# What the saved run (full budget) shows: the pattern of He et al.'s Figure 1 and Figure 6, on
# a much smaller scale. The plain 20-layer network ends with a higher training error than the
# plain 8-layer one (0.279 against 0.264) and lies above it in every epoch; the residual
# 20-layer network ends far below the residual 8-layer one (0.128 against 0.268), below it from
# the second epoch on. Read it with its limits. It is one seed and about 160 steps of training:
# the plain gap of 0.015 is small, and the two plain curves are still converging, so this run
# cannot tell a worse optimum from a slower start, which is what He et al.'s long runs settle.
# The test error (200 held-out images, in inference mode) shows the plain networks' pattern
# too, 0.325 for 20 layers against 0.285 for 8, but not the residual ones' (0.300 for 20 against
# 0.285 for 8): with 1,000 training images the residual 20-layer network's low training error is
# partly memorisation (a gap of about 0.17), which is why the degradation problem is stated, as by
# He et al., on the *training* error. The networks' batch norm uses momentum 0.9 here
# (`bn_momentum=0.9`): with Keras' default 0.99 the moving statistics would still be far from the
# data's after 160 steps, and the test error near chance. The quick budget (`COURSE_QUICK=1`, one
# epoch of 200 images) shows none of this. The figures move a little from one full run to the next
# (an earlier one: training errors 0.288 against 0.258 for the plain networks, 0.122 against 0.269
# for the residual ones); the pattern of the training errors stayed.

# %% [markdown]
# ## 5. The residual block
#
# The AIL 862 lecture's residual block, PyTorch's `BasicBlock.forward`:
#
# ```python
# def forward(self, x: Tensor) -> Tensor:
#     identity = x
#
#     out = self.conv1(x)
#     out = self.bn1(out)
#     out = self.relu(out)
#
#     out = self.conv2(out)
#     out = self.bn2(out)
#
#     out += identity
#     out = self.relu(out)
#
#     return out
# ```
#
# The same block in Keras (`A.residual_block`), line for line; when the block halves the size
# or changes the width, the identity is projected by a $1\times1$ convolution and batch norm
# (PyTorch's `downsample`):

# %%
print(inspect.getsource(A.residual_block))

# %% [markdown]
# Verified on a tensor: the Keras block against the same forward pass written with the numpy
# layers of `course_utils.ops`, batch norm in inference mode with random statistics (so that it
# does something), once with the identity shortcut and once with a projection:

# %%
def residual_block_numpy(x, model, name, stride):
    """The forward pass above with course_utils.ops, reading the Keras block's weights."""
    weights = {layer.name: layer.get_weights() for layer in model.layers}

    def conv(h, layer, s=1):
        return ops.conv2d_forward(h, weights[layer][0], None, stride=s, padding="same")[0]

    def bn(h, layer):
        gamma, beta, mean, var = weights[layer]
        return ops.batchnorm_forward(h, gamma, beta, mean, var, training=False)[0]

    identity = x
    out = np.maximum(bn(conv(x, f"{name}_conv1", stride), f"{name}_bn1"), 0)
    out = bn(conv(out, f"{name}_conv2"), f"{name}_bn2")
    if f"{name}_downsample" in weights:
        identity = bn(conv(x, f"{name}_downsample", stride), f"{name}_downsample_bn")
    return np.maximum(out + identity, 0)


rng = np.random.default_rng(1)
x = rng.standard_normal((2, 8, 8, 16)).astype("float32")
for filters, stride in ((16, 1), (32, 2)):
    inputs = keras.Input((8, 8, 16))
    block = keras.Model(inputs, A.residual_block(inputs, filters, stride, name="block"))
    for layer in block.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c),
                               rng.uniform(0.5, 1.5, c)])
    keras_out = block(x, training=False).numpy()
    numpy_out = residual_block_numpy(x, block, "block", stride)
    print(f"{filters} filters, stride {stride}: output {keras_out.shape}, Keras == numpy:",
          ops.rel_error(keras_out, numpy_out) < 1e-5)

# %% [markdown]
# He et al.'s CIFAR networks have $6n+2$ layers: a $3\times3$ convolution, three stages of $n$
# blocks with 16, 32 and 64 filters (each new stage halves the size), global average pooling
# and a softmax. Residual and plain versions differ only in the shortcuts. Where a stage
# changes, the input of a block and its output differ in size and width, and He et al. offer
# two shortcuts: **option A**, parameter-free (subsample with stride 2, pad the extra channels
# with zeros), and **option B**, a projection ($1\times1$ convolution with stride 2). For their
# CIFAR networks they use option A, so that plain and residual networks have *exactly* the same
# parameters. The course's `cifar_resnet` uses option B (with batch norm), which costs almost
# nothing:

# %%
costs, cifar_nets = [], {}
for depth in (20, 56):
    for residual in (False, True):
        model = cifar_nets[depth, residual] = A.cifar_resnet(depth, residual=residual)
        totals = parameter_table(model).attrs
        costs.append({"network": model.name, "parameters": totals["total"],
                      "non-trainable (BN statistics)": totals["non_trainable"], "MACs": totals["macs"]})
costs = pd.DataFrame(costs)
display(costs)
print("parameters of the shortcuts:", (costs["parameters"].iloc[1::2].values - costs["parameters"].iloc[::2].values))

# %% [markdown]
# The only extra parameters are the two projections at the two stage changes: $16\cdot32 +
# 32\cdot64 = 2{,}560$ convolution weights and $4\cdot(32+64) = 384$ batch-norm parameters, 192 of
# them non-trainable statistics, 2,944 in all; identity shortcuts (and option A) are free.
# `receptive_field_table` warns, for these networks, that at a projection the two paths are not
# centred alike: TensorFlow's `"same"` padding
# pads a stride-2 $3\times3$ convolution on an even input only at the bottom and right, so its
# windows are centred one pixel off the $1\times1$ projection's samples. Harmless, but a real
# asymmetry that `receptive_field_table` finds by itself.
#
# ## 6. DenseNet: growth rate and transitions
#
# DenseNet (Huang, Liu, van der Maaten and Weinberger, 2017, *Densely connected convolutional
# networks*) takes "more connections" to the limit: within a dense block each layer receives the
# feature maps of **all** preceding layers,
#
# $$x_l = H_l([x_0, x_1, \dots, x_{l-1}]),$$
#
# where $[\cdot]$ is concatenation along the channels and $H_l$ is batch norm, ReLU and a
# $3\times3$ convolution producing $k$ maps. If the block's input has $k_0$ channels, layer $l$
# receives
#
# $$k_0 + k\,(l-1)$$
#
# channels; $k$ is the **growth rate**, typically small ($k=12$). Between blocks, **transition
# layers** (batch norm, a $1\times1$ convolution, $2\times2$ average pooling; the reference
# implementations put a ReLU after the batch norm) shrink the spatial size, and with compression
# $\theta<1$ the channels too.
#
# The formula against the layers Keras actually built ($k_0=24$, $k=12$, six layers):

# %%
k0, k, num_layers = 24, 12, 6
inputs = keras.Input((16, 16, k0))
block_out = A.dense_block(inputs, num_layers, growth_rate=k, name="dense")
trans_out = A.transition(block_out, compression=0.5, name="transition")
dense_model = keras.Model(inputs, trans_out)
check = pd.DataFrame({"layer l": range(1, num_layers + 1)})
check["k0 + k(l-1)"] = k0 + k * (check["layer l"] - 1)
check["Keras input channels"] = [dense_model.get_layer(f"dense_layer{l}_bn").input.shape[-1]
                                 for l in check["layer l"]]
check["equal"] = check["k0 + k(l-1)"] == check["Keras input channels"]
display(check)
print("block output:", block_out.shape[1:], "| after the transition (θ = 0.5):", trans_out.shape[1:])
print("block parameters, formula:", f"{widgets.dense_block_params(k0, k, num_layers):,}",
      "| Keras:", f"{keras.Model(inputs, block_out).count_params():,}")

# %% [markdown]
# Explore the growth: every layer adds $k$ maps, so the input of the last layers is dominated by
# the maps of the layers before, and the block's output grows linearly with its depth (hence the
# transitions).

# %%
densenet_explorer = widgets.densenet_growth_explorer(k0=24, k=12, layers=6)
densenet_explorer

# %% [markdown]
# A small CIFAR DenseNet (three blocks of six layers, $k=12$) against ResNet-20:

# %%
densenet = A.densenet()
print(f"{densenet.name}: {densenet.count_params():,} parameters; "
      f"ResNet-20: {cifar_nets[20, True].count_params():,}")

# %% [markdown]
# ## 7. MobileNet: depthwise-separable convolutions
#
# A standard convolution filters and combines channels in one step. MobileNet splits it into a
# **depthwise** $D_k\times D_k$ convolution (one filter per input channel: spatial filtering) and a
# **pointwise** $1\times1$ convolution (combining channels), each followed by batch norm and a
# ReLU (notebook 05). Keras' `MobileNet` uses ReLU6, $\min(\max(x, 0), 6)$, instead; the MobileNet
# paper uses a plain ReLU, and ReLU6 became part of the design with MobileNetV2 (Sandler et al.,
# 2018, *MobileNetV2: Inverted residuals and linear bottlenecks*). The reduction
# factor the AIL 862 lecture asks for: with $M$ input and $N$ output
# channels, the weights drop from $D_k^2MN$ to $D_k^2M + MN$, a ratio of
#
# $$\frac{D_k^2M + MN}{D_k^2MN} = \frac1N + \frac1{D_k^2},$$
#
# the same for the multiply-accumulates. For $3\times3$ kernels that is about 8 to 9 times fewer:

# %%
for c_in, c_out in ((32, 64), (256, 256), (512, 1024)):
    comparison = compare_standard_vs_separable(c_in, c_out, 3, size=14)
    print(f"{c_in:>4} -> {c_out:<4}: standard {comparison.standard:>9,}  separable {comparison.separable:>7,}  "
          f"ratio {comparison.ratio:.4f} = 1/N + 1/Dk^2: {np.isclose(comparison.ratio, mobilenet_reduction(c_out, 3))}")

# %%
mobilenet = A.mobilenet()
print(f"MobileNet v1: {mobilenet.count_params():,} parameters; same as keras.applications.MobileNet:",
      mobilenet.count_params() == keras.applications.MobileNet(weights=None).count_params())

# %% [markdown]
# The cost of all these networks side by side (each at its own input size; MACs are the
# multiply-accumulates of one forward pass of one image, from `parameter_table`):

# %%
cost_models = {"LeNet-5": lenet, "AlexNet": alexnet, "VGG-16": vgg16, "ResNet-20": cifar_nets[20, True],
               "ResNet-56": cifar_nets[56, True], "DenseNet k=12": densenet, "MobileNet": mobilenet}
rows = []
for name, model in cost_models.items():
    totals = parameter_table(model).attrs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ResNets' projection paths, see section 5
        last_rf = receptive_field_table(model).dropna(subset=["n_out"])["rf"].iloc[-1]
    rows.append({"network": name, "input": "x".join(map(str, model.input_shape[1:])),
                 "params": totals["total"], "macs": totals["macs"], "last rf": last_rf})
cost_table = pd.DataFrame(rows)
display(cost_table)
macs = cost_table.set_index("network")["macs"]
print(f"VGG-16 needs {macs['VGG-16'] / macs['MobileNet']:.1f} times the multiply-accumulates of MobileNet "
      "on the same 224x224 image")
fig = plots.plot_architecture_costs(cost_table)

# %% [markdown]
# ### Explore: any architecture's tables
#
# Pick a network to see its parameter table (with formulas and MACs) and its receptive-field
# table side by side.

# %%
picker = widgets.architecture_picker("ResNet-20 (32x32x3)")
picker

# %% [markdown]
# ## 8. Image segmentation
#
# Segmentation splits an image into regions that together cover it and do not overlap, such that
# a *similarity predicate* holds within each region but not for the union of two neighbouring
# regions. What counts as similar (colour, texture, meaning) is a choice, so segmentation can be
# subjective. *Semantic* segmentation labels every pixel with a class.
#
# Our data: the synthetic scenes of notebook 03 (section 8), discs, squares and triangles in random
# colours on a noisy, smoothly varying background, with the true label of every pixel.

# %%
gallery_images, gallery_masks = A.synthetic_shapes(64, seed=1)
print("images:", gallery_images.shape, gallery_images.dtype, "| masks:", gallery_masks.shape,
      "| classes:", A.SHAPE_CLASSES)
fig = plots.plot_segmentation_examples(gallery_images, gallery_masks, class_names=A.SHAPE_CLASSES, n=6)

# %% [markdown]
# ### Before deep learning
#
# * **Region growing**: start from a seed pixel and add neighbours while they are similar enough
#   to the region (here: colour within a threshold of the region's mean colour).
# * **Clustering**: group pixels by a feature vector (colour, texture features, position) with
#   k-means; each cluster is a segment.
# * **Split and merge**: split the image recursively into quadrants until each is homogeneous,
#   then merge similar neighbours.
#
# None of them needs training, and none knows *what* a region is: they find homogeneous regions,
# not discs or triangles. And the similarity predicate is delicate: too strict and region growing
# stops at the first noisy pixel, too loose and it leaks into the background.
#
# **How a segmentation is scored** (notebook 03, section 8). For one class, the predicted set of
# pixels $A$ and the true set $B$ give the **intersection over union**
# $\mathrm{IoU} = |A\cap B| / |A\cup B|$: 1 for a perfect segment, 0 for a disjoint one, lowered by
# both missed pixels and leaks. The **pixel accuracy** is the fraction of pixels whose class is right;
# the **mean IoU**, the average of the per-class IoUs, weighs every class alike, while pixel accuracy
# is dominated by the largest class (the background). The cell below scores region growing by the
# IoU of its region with the disc.

# %%
image, mask = gallery_images[3], gallery_masks[3]
disc = mask == A.SHAPE_CLASSES.index("disc")
ys, xs = np.nonzero(disc)
seed_pixel = (int(np.median(ys)), int(np.median(xs)))              # a pixel inside the disc
for threshold in (0.3, 0.4, 0.5):
    grown = segmentation.region_grow(image, seed_pixel, threshold)
    print(f"region growing from {seed_pixel}, threshold {threshold}: {grown.sum():>4} pixels, "
          f"IoU with the disc {(grown & disc).sum() / (grown | disc).sum():.2f}")
region = segmentation.region_grow(image, seed_pixel, threshold=0.4)
clusters = segmentation.kmeans_segment(image, k=4, seed=0)
fig = plots.plot_classical_segmentation(image, seed_pixel, region, clusters)

# %% [markdown]
# ## 9. Fully convolutional networks (FCN)
#
# A classification network maps an image to one vector of class scores; for segmentation we
# need a score vector for *every pixel*. The FCN of Long, Shelhamer and Darrell (2015, *Fully
# convolutional networks for semantic segmentation*) gets there in three steps.
#
# ### 9.1 Convolutionalising a classifier
#
# A Dense layer on a flattened $h\times w\times c$ map is an $h\times w$ convolution with one
# filter per unit, and later Dense layers are $1\times1$ convolutions. Same weights, reshaped
# (`A.convolutionalize`). On an input of the training size the outputs are equal; on a larger
# input the network slides: it outputs a map of class scores, one per window.

# %%
keras.utils.set_random_seed(0)
classifier = keras.Sequential([
    keras.Input((16, 16, 3)),
    layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2),
    layers.Conv2D(16, 3, activation="relu"),
    layers.Flatten(), layers.Dense(32, activation="relu"), layers.Dense(4, activation="softmax"),
], name="classifier")
fully_conv = A.convolutionalize(classifier)
rng = np.random.default_rng(2)
x16 = rng.uniform(size=(2, 16, 16, 3)).astype("float32")
x32 = rng.uniform(size=(1, 32, 32, 3)).astype("float32")
print("same parameters:", classifier.count_params() == fully_conv.count_params())
print("16x16 input:", classifier(x16).shape, "->", fully_conv(x16).shape, "equal:",
      ops.rel_error(classifier(x16), fully_conv(x16)[:, 0, 0]) < 1e-5)
score_map = fully_conv(x32).numpy()
windows_equal = all(ops.rel_error(classifier(x32[:, 2 * i:2 * i + 16, 2 * j:2 * j + 16]), score_map[:, i, j]) < 1e-5
                    for i in range(score_map.shape[1]) for j in range(score_map.shape[2]))
print("32x32 input: score map", score_map.shape, "| each entry = the classifier on a 16x16 window, "
      "windows 2 pixels apart:", windows_equal)
receptive_field_table(fully_conv, input_size=32)

# %% [markdown]
# The table shows both facts: the last layer's receptive field is 16 (the classifier's input) and
# its jump is 2 (the pooling stride). In a real classifier the jump, the **output stride**, is 32:
# one score vector per $32\times32$ block of pixels.
#
# ### 9.2 Back to full resolution: $1\times1$ scores and upsampling
#
# Remove the classification layer, add a $1\times1$ convolution with one channel per class (a
# "score" layer) and upsample the coarse score map to the input size, either with fixed bilinear
# interpolation or with a **transposed convolution** (notebook 04) initialised to bilinear
# interpolation and then learnt. With a $2f\times2f$ kernel, stride $f$ and `"same"` padding the
# bilinear initialisation reproduces bilinear resizing away from the border:

# %%
coarse = rng.standard_normal((1, 6, 6, 4)).astype("float32")
for f in (2, 8, 32):
    up = ops.conv2d_transpose_forward(coarse, segmentation.bilinear_kernel(2 * f, 4), None, stride=f,
                                      padding="same")[0]
    resized = tf.image.resize(coarse, (6 * f, 6 * f), method="bilinear").numpy()
    print(f"factor {f:>2}: {coarse.shape[1:3]} -> {up.shape[1:3]}, equals tf.image.resize inside the border:",
          ops.rel_error(up[:, f:-f, f:-f], resized[:, f:-f, f:-f]) < 1e-5)

# %% [markdown]
# ### 9.3 Skip connections: FCN-32s, FCN-16s, FCN-8s
#
# Upsampling cannot restore detail the coarse map never had. How much is lost? Give the network
# a *perfect* coarse map (the true class fractions of every $s\times s$ cell), upsample it
# bilinearly and take the most likely class per pixel. This is an **oracle baseline**, the score of
# one particular decoder (bilinear interpolation) fed ideal cell averages; it is not an upper bound
# on what a stride-$s$ network can reach. A network's stride-$s$ scores need not be cell averages,
# and its upsampling can be learned: together they can place a boundary inside a cell better than
# interpolated averages can. Section 9.5 sets the trained FCN-8s against the stride-8 row.

# %%
strides = (32, 16, 8, 4)
coarse_masks = {s: segmentation.coarse_mask(gallery_masks, s, len(A.SHAPE_CLASSES)) for s in strides}
# the oracle baseline: true class fractions per s x s cell, upsampled bilinearly (not an upper bound)
oracle = pd.DataFrame([{"output stride": s, "FCN": {32: "FCN-32s", 16: "FCN-16s", 8: "FCN-8s"}.get(s, ""),
                        "oracle-baseline mean IoU": round(segmentation.segmentation_scores(
                            gallery_masks, coarse_masks[s], len(A.SHAPE_CLASSES))["mean_iou"], 3)}
                       for s in strides])
display(oracle)
fig = plots.plot_coarse_masks(gallery_masks[0], {s: m[0] for s, m in coarse_masks.items()})

# %% [markdown]
# FCN's answer is the **skip architecture**: combine the coarse, semantic scores of the deep layers
# with scores from shallower, finer layers.
#
# * **FCN-32s**: score `pool5` (stride 32), upsample $32\times$.
# * **FCN-16s**: upsample the `pool5` scores $2\times$, add a $1\times1$ score of `pool4` (stride
#   16), upsample the sum $16\times$.
# * **FCN-8s**: one step more: upsample $2\times$ again, add a score of `pool3`, upsample $8\times$.
#
# The skip scores start at zero, so training starts from the coarser network's predictions.
# The FCN code in the AIL 862 lecture (from the `pochih/FCN-pytorch` repository) is a variant: a
# first $2\times$ transposed convolution (`deconv1`) upsamples the `x5` features (stride 32), which
# are added to the `x4` features (stride 16); four more $2\times$ transposed convolutions
# (`deconv2` to `deconv5`, each with ReLU and batch norm) bring the sum back to full resolution,
# five in all, and a $1\times1$ classifier finishes.
#
# Our FCNs for $64\times64$ images: five stages of $3\times3$ convolutions and $2\times2$ max-pools
# (so `pool5` is $2\times2$), `fc6`/`fc7` as convolutions, then the three variants:

# %%
fcn_rows = []
for variant in ("32s", "16s", "8s"):
    model = A.fcn(variant=variant)
    rf = receptive_field_table(model)
    fused = rf[rf["type"].isin(["Conv2D", "Add"])].iloc[-1]          # the last score before the final upsampling
    fcn_rows.append({"variant": f"FCN-{variant}", "parameters": model.count_params(),
                     "finest scores": f"{fused['layer']} ({fused['n_out']}x{fused['n_out']})",
                     "their jump": fused["jump"], "output": str(model.output_shape[1:])})
pd.DataFrame(fcn_rows)

# %% [markdown]
# ### 9.4 Shift-and-stitch
#
# Another way to dense output, which FCN considered and set aside: if a network's output stride
# is $f$, run it on $f^2$ copies of the input shifted by $(a, b)$, $0\le a,b<f$, and interleave the
# coarse outputs: coarse unit $(m, n)$ of shift $(a, b)$ lands at $(fm + a,\, fn + b)$. The
# result is what the network would give without the stride: the pooling with stride 1 and every
# later filter $w$ made sparse, $w'_{ij} = w_{i/s,\,j/s}$ if the removed stride $s$ (here $s = f$)
# divides $i$ and $j$ and $0$ otherwise, which is a dilated convolution (notebook 03).
#
# Checked in numpy on a tiny network (conv $3\times3$, max-pool $2\times2$ stride 2, conv $3\times3$):

# %%
rng = np.random.default_rng(3)
w1, w2 = rng.standard_normal((3, 3, 1, 2)), rng.standard_normal((3, 3, 2, 1))
picture = rng.standard_normal((1, 14, 14, 1))


def strided_net(x):
    h = ops.conv2d_forward(x, w1, None)[0]
    h = ops.max_pool_forward(h, 2, stride=2)[0]
    return ops.conv2d_forward(h, w2, None)[0]


def dense_net(x):  # the same weights without the stride: pool with stride 1, dilate the next filter
    h = ops.conv2d_forward(x, w1, None)[0]
    h = ops.max_pool_forward(h, 2, stride=1)[0]
    return ops.conv2d_forward(h, w2, None, dilation=2)[0]


stitched = segmentation.shift_and_stitch(strided_net, picture, factor=2)
dense = dense_net(picture)
print("strided output:", strided_net(picture).shape[1:3], "| stitched:", stitched.shape[1:3],
      "| dense:", dense.shape[1:3])
print("shift-and-stitch == dense network:", ops.rel_error(stitched, dense) < 1e-12)
shifted = {(a, b): strided_net(picture[:, a:, b:])[0, :, :, 0] for a in range(2) for b in range(2)}
fig = plots.plot_shift_and_stitch(shifted, stitched[0, :, :, 0], factor=2)

# %% [markdown]
# It costs $f^2$ forward passes ($32^2 = 1024$ for a VGG-based FCN), and the dense network has the
# receptive field of the strided one, no more. FCN found learnt upsampling with skips more
# effective and much cheaper; the dilated-filter version is the idea behind Yu and Koltun's dilated
# networks (notebook 03).
#
# ### 9.5 Training a small FCN-8s
#
# The budget (`config.budget("fcn")`) sets the number of images and epochs: the full run trains on
# 2000 generated images for 15 epochs, quick mode on far fewer. The data set is generated, not
# CIFAR-10 or Fashion-MNIST: segmentation needs per-pixel labels. Loss: cross-entropy of every pixel,
# with Adam, as for the dense predictors of notebook 03 (`experiments.fit_segmenter`).

# %%
# NBVAL_IGNORE_OUTPUT
budget = config.budget("fcn")
train_images, train_masks = A.synthetic_shapes(budget.train_size, seed=0)
test_images, test_masks = A.synthetic_shapes(budget.test_size, seed=1)
keras.utils.set_random_seed(0)
fcn_run = experiments.fit_segmenter("FCN-8s", A.fcn(variant="8s"), (train_images, train_masks),
                                    (test_images, test_masks), budget)
predicted, scores = fcn_run.predicted, fcn_run.scores
print(f"data: synthetic shapes, {len(train_images)} training / {len(test_images)} test images of 64x64; "
      f"{budget.epochs} epochs; final training loss {fcn_run.history['loss'][-1]:.3f}")
print(f"test pixel accuracy {scores['pixel_accuracy']:.3f}, mean IoU {scores['mean_iou']:.3f}")
stride8 = oracle.set_index("output stride").loc[8, "oracle-baseline mean IoU"]
print(f"the stride-8 oracle baseline (section 9.3) is {stride8:.3f}: the trained FCN-8s is "
      f"{'above' if scores['mean_iou'] > stride8 else 'not above'} it")
print("IoU per class:", {c: round(float(v), 3) for c, v in zip(A.SHAPE_CLASSES, scores["iou"])})

# %%
fig = plots.plot_segmentation_examples(test_images, test_masks, predicted, class_names=A.SHAPE_CLASSES, n=6)

# %% [markdown]
# Background is easy (most pixels); the shapes need the network to recognise *form*, since their
# colours are random. Errors concentrate on the borders and on overlapping shapes.
#
# In the saved full run the FCN-8s reaches a mean IoU of 0.788 on its 200 test images, below the
# 0.802 of the stride-8 oracle baseline of section 9.3 (measured on the 64 gallery images, which are
# the first 64 of those 200 test images, so the two sets overlap but are not the same); the line
# the cell prints says which side of it a run lands on. The baseline is a reference point, not a
# limit: the network's stride-8 scores are learned, not cell averages, and its final $8\times$
# upsampling is a transposed convolution that starts as bilinear interpolation and is then
# trained, so a network can beat it. The score varies from one full run to the next: earlier full
# runs of this notebook reached 0.765 and 0.808, the second above the baseline.
#
# ## 10. Exercises

# %% [markdown]
# **Exercise 1.** A dense block receives $k_0 = 64$ maps and has growth rate $k = 32$. How many
# input channels does its layer 7 receive?

# %%
answer = None
result = nb08.dense_channels.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# $k_0 + k(l-1) = 64 + 32\cdot6 = 256$: the block input plus 32 maps from each of the six earlier layers.
#
# </details>
#
# **Exercise 2.** AlexNet's conv4 is a $3\times3$ convolution from 384 to 384 channels, with
# biases. How many parameters does `groups=2` save compared with `groups=1`?

# %%
answer = None
result = nb08.grouped_saving.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# $3\cdot3\cdot384\cdot384 - 3\cdot3\cdot192\cdot384 = 1{,}327{,}104 - 663{,}552 = 663{,}552$ (the 384 biases
# are in both). Compare the `conv4` row of the AlexNet table.
#
# </details>
#
# **Exercise 3.** Three stacked $3\times3$ convolutions and one $7\times7$ convolution see the same
# $7\times7$ pixels. With $C = 256$ channels in and out and no biases, how many more parameters
# does the $7\times7$ layer have?

# %%
answer = None
result = nb08.vgg_saving.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# $49C^2 - 27C^2 = 22\cdot256^2 = 1{,}441{,}792$.
#
# </details>
#
# **Exercise 4.** Write `dense_to_conv(kernel, feature_shape)` that turns the kernel of a Dense
# layer, applied after `Flatten` to an $h\times w\times c$ map, into the equivalent Conv2D kernel
# of shape $(h, w, c, \text{units})$ (what `A.convolutionalize` does).

# %%
def dense_to_conv(kernel, feature_shape):
    ...


answer = None  # replace with: answer = dense_to_conv
result = nb08.dense_to_conv.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Keras flattens an NHWC map row by row with the channels varying fastest, which is exactly numpy's
# C order, so a reshape does it:
#
# ```python
# def dense_to_conv(kernel, feature_shape):
#     h, w, c = feature_shape
#     return kernel.reshape(h, w, c, kernel.shape[1])
#
# answer = dense_to_conv
# ```
#
# (PyTorch flattens NCHW maps, so there the kernel is `reshape(c, h, w, units)` and transposed.)
#
# </details>
#
#
# **Exercise 5 (find the bug).** `nb08.buggy_iou` is meant to compute the intersection over union
# of one class. Predict what it gives for a perfect prediction, run the cell, then find the bug
# and write the repaired function.

# %%
print(inspect.getsource(nb08.buggy_iou))
perfect = np.array([[0, 1, 1], [0, 1, 2], [2, 2, 0]])
print("buggy_iou(perfect, perfect, 1) =", nb08.buggy_iou(perfect, perfect, 1),
      "  segmentation_scores:", segmentation.segmentation_scores(perfect, perfect, 3)["iou"][1])

# %%
def iou(y_true, y_pred, c):
    ...


answer = None  # replace with: answer = iou
result = nb08.fix_iou.check(answer)

# %% [markdown]
# <details><summary>Solution</summary>
#
# $|A| + |B|$ counts the shared pixels twice: the union is $|A| + |B| - |A \cap B|$, or `(true | pred).sum()`.
#
# ```python
# def iou(y_true, y_pred, c):
#     true, pred = np.asarray(y_true) == c, np.asarray(y_pred) == c
#     return (true & pred).sum() / (true | pred).sum()
#
# answer = iou
# ```
# </details>
#
# ## What to remember
#
# * LeNet → AlexNet → VGG: the same recipe, deeper; $3\times3$ stacks buy large receptive fields cheaply.
# * Degradation: a deeper plain network can fit its *training* data worse than a shallower one;
#   residual blocks make the identity easy, so depth helps again. DenseNet concatenates instead of adding.
# * FCN: Dense layers become convolutions, learned upsampling and skips restore resolution and detail.
# * Segmentation is scored per pixel: pixel accuracy and mean IoU, $|A\cap B| / |A\cup B|$ per class.
