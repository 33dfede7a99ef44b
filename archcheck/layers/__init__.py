"""Layer types, one module per family, loaded on first use.

Importing every family costs about 0.1 s of pydantic class creation, which
``archcheck validate`` of a small spec should not pay. So the registry
(``archcheck.layers.base.REGISTRY``) imports a family the first time one of its
types is looked up, and all of them when it is iterated. ``INDEX`` says which
module holds each type; ``tests/test_registry.py`` checks it against the
classes that ``@register`` actually records, so a new layer type that is
missing here fails the suite with the line to add.
"""

from __future__ import annotations

import importlib

INDEX: dict[str, str] = {
    # activation_extra.py
    "CELU": "activation_extra",
    "GLU": "activation_extra",
    "Hardshrink": "activation_extra",
    "LogSigmoid": "activation_extra",
    "PReLU": "activation_extra",
    "RReLU": "activation_extra",
    "Softmax2d": "activation_extra",
    "Softmin": "activation_extra",
    "Softshrink": "activation_extra",
    "Softsign": "activation_extra",
    "Tanhshrink": "activation_extra",
    "Threshold": "activation_extra",
    # arith.py
    "Arith": "arith",
    "Divide": "arith",
    "MatMul": "arith",
    "Roll": "arith",
    "Squeeze": "arith",
    "Subtract": "arith",
    "Sum": "arith",
    "To": "arith",
    "Unsqueeze": "arith",
    # attention.py
    "MultiheadAttention": "attention",
    "TransformerDecoderLayer": "attention",
    "TransformerEncoderLayer": "attention",
    # cells.py
    "GRUCell": "cells",
    "LSTMCell": "cells",
    "RNNCell": "cells",
    # conv.py
    "Conv1d": "conv",
    "Conv2d": "conv",
    "Conv3d": "conv",
    "ConvTranspose1d": "conv",
    "ConvTranspose2d": "conv",
    "ConvTranspose3d": "conv",
    # elementwise.py
    "AlphaDropout": "elementwise",
    "Dropout": "elementwise",
    "Dropout1d": "elementwise",
    "Dropout2d": "elementwise",
    "Dropout3d": "elementwise",
    "ELU": "elementwise",
    "FeatureAlphaDropout": "elementwise",
    "GELU": "elementwise",
    "Hardsigmoid": "elementwise",
    "Hardswish": "elementwise",
    "Hardtanh": "elementwise",
    "LeakyReLU": "elementwise",
    "LogSoftmax": "elementwise",
    "Mish": "elementwise",
    "ReLU": "elementwise",
    "ReLU6": "elementwise",
    "SELU": "elementwise",
    "SiLU": "elementwise",
    "Sigmoid": "elementwise",
    "Softmax": "elementwise",
    "Softplus": "elementwise",
    "Tanh": "elementwise",
    # embedding_bag.py
    "EmbeddingBag": "embedding_bag",
    # fold.py
    "Fold": "fold",
    "Unfold": "fold",
    # linear.py
    "Flatten": "linear",
    "Identity": "linear",
    "Linear": "linear",
    # merge.py
    "Add": "merge",
    "Concat": "merge",
    "Multiply": "merge",
    # norm.py
    "BatchNorm1d": "norm",
    "BatchNorm2d": "norm",
    "BatchNorm3d": "norm",
    "SyncBatchNorm": "norm",
    # normalization.py
    "GroupNorm": "normalization",
    "InstanceNorm1d": "normalization",
    "InstanceNorm2d": "normalization",
    "InstanceNorm3d": "normalization",
    "LayerNorm": "normalization",
    "LocalResponseNorm": "normalization",
    "RMSNorm": "normalization",
    # lppool.py
    "LPPool1d": "lppool",
    "LPPool2d": "lppool",
    "LPPool3d": "lppool",
    # pairwise.py
    "Bilinear": "pairwise",
    "CosineSimilarity": "pairwise",
    "PairwiseDistance": "pairwise",
    # parameter.py
    "Expand": "parameter",
    "Parameter": "parameter",
    # pool.py
    "AdaptiveAvgPool1d": "pool",
    "AdaptiveAvgPool2d": "pool",
    "AdaptiveAvgPool3d": "pool",
    "AdaptiveMaxPool1d": "pool",
    "AdaptiveMaxPool2d": "pool",
    "AdaptiveMaxPool3d": "pool",
    "AvgPool1d": "pool",
    "AvgPool2d": "pool",
    "AvgPool3d": "pool",
    "MaxPool1d": "pool",
    "MaxPool2d": "pool",
    "MaxPool3d": "pool",
    # recurrent.py
    "Embedding": "recurrent",
    "GRU": "recurrent",
    "LSTM": "recurrent",
    "RNN": "recurrent",
    # resample.py
    "ConstantPad1d": "resample",
    "CircularPad1d": "resample",
    "CircularPad2d": "resample",
    "CircularPad3d": "resample",
    "ConstantPad2d": "resample",
    "ConstantPad3d": "resample",
    "PixelShuffle": "resample",
    "PixelUnshuffle": "resample",
    "ReflectionPad1d": "resample",
    "ReflectionPad2d": "resample",
    "ReflectionPad3d": "resample",
    "ReplicationPad1d": "resample",
    "ReplicationPad2d": "resample",
    "ReplicationPad3d": "resample",
    "Upsample": "resample",
    "UpsamplingBilinear2d": "resample",
    "UpsamplingNearest2d": "resample",
    "ZeroPad1d": "resample",
    "ZeroPad2d": "resample",
    "ZeroPad3d": "resample",
    # transformer.py
    "TransformerDecoder": "transformer",
    "TransformerEncoder": "transformer",
    # vision.py
    "LayerNorm2d": "vision",
    "StochasticDepth": "vision",
    # unpool.py
    "MaxUnpool1d": "unpool",
    "MaxUnpool2d": "unpool",
    "MaxUnpool3d": "unpool",
    # split.py
    "Chunk": "split",
    "Split": "split",
    # tensor_ops.py
    "Mean": "tensor_ops",
    "Permute": "tensor_ops",
    "Reshape": "tensor_ops",
    "Select": "tensor_ops",
    "Transpose": "tensor_ops",
    "Unflatten": "tensor_ops",
}


def load_type(name: str) -> None:
    """Import the module that registers ``name``, if the index knows it."""
    mod = INDEX.get(name)
    if mod is not None:
        importlib.import_module(f"{__name__}.{mod}")


def load_all() -> None:
    for mod in sorted(set(INDEX.values())):
        importlib.import_module(f"{__name__}.{mod}")
