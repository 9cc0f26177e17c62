"""Numpy reference layers with forward and backward passes, NHWC like TensorFlow.

Every layer has ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients`` (one per differentiable input, in
order). Tensors are ``(N, H, W, C)``; convolution weights ``(kh, kw, C_in, C_out)``.
float32 inputs are computed in float32 (fast), float64 in float64 (for
gradient checks).

=========================  =====================================================
module                     contents
=========================  =====================================================
:mod:`.conv`               convolution: naive loops and im2col ("serialisation"),
                           stride, padding, dilation, groups; ``im2col``/``col2im``
:mod:`.depthwise`          depthwise and depthwise-separable convolution
:mod:`.transposed`         transposed convolution (Keras ``Conv2DTranspose``)
:mod:`.dilated`            ``dilate_kernel``; dilated backprop, correct and broken
:mod:`.pooling`            max and average pooling
:mod:`.batchnorm`          batch normalisation (Keras conventions)
:mod:`.basic`              ReLU, dropout, dense, softmax cross-entropy
:mod:`.gradcheck`          numerical gradients, ``rel_error``, ``check_gradients``
:mod:`.shapes`             ``image4d`` / ``kernel4d``: 2-D examples as 4-D tensors
=========================  =====================================================

Example::

    from course_utils.ops import conv2d_forward, conv2d_backward, check_gradients
    check_gradients(lambda x, w, b: conv2d_forward(x, w, b, stride=2, padding="same"),
                    conv2d_backward, [x, w, b])
"""

from course_utils.ops.basic import (
    DenseCache,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy,
)
from course_utils.ops.shapes import image4d, kernel4d
from course_utils.ops.batchnorm import BatchNormCache, batchnorm_backward, batchnorm_forward
from course_utils.ops.conv import (
    ConvCache,
    col2im,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    im2col,
)
from course_utils.ops.depthwise import (
    SeparableCache,
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from course_utils.ops.dilated import dilate_kernel, dilated_conv2d_backward, dilated_conv2d_backward_broken
from course_utils.ops.gradcheck import check_gradients, numerical_gradient, rel_error
from course_utils.ops.pooling import (
    PoolCache,
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)
from course_utils.ops.transposed import (
    TransposedConvCache,
    conv2d_transpose_backward,
    conv2d_transpose_forward,
)

__all__ = [
    "image4d",
    "kernel4d",
    "BatchNormCache",
    "ConvCache",
    "DenseCache",
    "PoolCache",
    "SeparableCache",
    "TransposedConvCache",
    "avg_pool_backward",
    "avg_pool_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "check_gradients",
    "col2im",
    "conv2d_backward",
    "conv2d_backward_naive",
    "conv2d_forward",
    "conv2d_forward_naive",
    "conv2d_transpose_backward",
    "conv2d_transpose_forward",
    "dense_backward",
    "dense_forward",
    "depthwise_conv2d_backward",
    "depthwise_conv2d_forward",
    "dilate_kernel",
    "dilated_conv2d_backward",
    "dilated_conv2d_backward_broken",
    "dropout_backward",
    "dropout_forward",
    "im2col",
    "max_pool_backward",
    "max_pool_forward",
    "numerical_gradient",
    "rel_error",
    "relu_backward",
    "relu_forward",
    "separable_conv2d_backward",
    "separable_conv2d_forward",
    "softmax_cross_entropy",
]
