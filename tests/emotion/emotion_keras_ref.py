"""Independent float64 numpy forward of a Keras (2.x, channels-last) h5 model, from its own config.

Walks the `model_config` graph of the h5 file layer by layer; shares no code with the port.
"""

import json

import h5py
import numpy as np


def _pad_same(n, k, s):
    out = -(-n // s)
    tot = max((out - 1) * s + k - n, 0)
    return tot // 2, tot - tot // 2


def _patches(x, kh, kw, s, padding, fill):
    """x [H,W,C] -> patches [Ho,Wo,kh,kw,C]."""
    h, w, _ = x.shape
    if padding == "same":
        (pt, pb), (pl, pr) = _pad_same(h, kh, s), _pad_same(w, kw, s)
        x = np.pad(x, ((pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    h, w, c = x.shape
    ho, wo = (h - kh) // s + 1, (w - kw) // s + 1
    out = np.empty((ho, wo, kh, kw, c))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j, :] = x[i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s, :]
    return out


def keras_forward(h5_path, x):
    """x [H,W,C] float64 -> output of the model's last layer (float64)."""
    f = h5py.File(h5_path, "r")
    cfg = json.loads(f.attrs["model_config"])
    g = f["model_weights"]

    def W(layer, name):
        grp = g[layer]
        found = []
        grp.visititems(
            lambda n, o: found.append(o) if isinstance(o, h5py.Dataset) and n.endswith(name + ":0") else None
        )
        return np.asarray(found[0][()], dtype=np.float64)

    vals = {}
    for layer in cfg["config"]["layers"]:
        cls, name, c = layer["class_name"], layer["name"], layer["config"]
        ins = [vals[ib[0]] for ib in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
        a = ins[0]
        if cls == "InputLayer":
            y = x
        elif cls == "Conv2D":
            k = W(name, "kernel")
            p = _patches(a, *c["kernel_size"], c["strides"][0], c["padding"], 0.0)
            y = np.einsum("hwijc,ijco->hwo", p, k)
            if c["use_bias"]:
                y = y + W(name, "bias")
        elif cls == "SeparableConv2D":
            dk = W(name, "depthwise_kernel")[..., 0]  # [kh,kw,C]
            pk = W(name, "pointwise_kernel")[0, 0]  # [C,O]
            p = _patches(a, *c["kernel_size"], c["strides"][0], c["padding"], 0.0)
            y = np.einsum("hwijc,ijc->hwc", p, dk) @ pk
        elif cls == "BatchNormalization":
            y = (a - W(name, "moving_mean")) / np.sqrt(W(name, "moving_variance") + c["epsilon"])
            y = y * W(name, "gamma") + W(name, "beta")
        elif cls == "Activation":
            if c["activation"] == "relu":
                y = np.maximum(a, 0)
            elif c["activation"] == "softmax":
                e = np.exp(a - a.max())
                y = e / e.sum()
            else:
                raise NotImplementedError(c["activation"])
        elif cls == "MaxPooling2D":
            p = _patches(a, *c["pool_size"], c["strides"][0], c["padding"], -np.inf)
            y = p.max(axis=(2, 3))
        elif cls == "Add":
            y = sum(ins)
        elif cls == "GlobalAveragePooling2D":
            y = a.mean(axis=(0, 1))
        else:
            raise NotImplementedError(cls)
        vals[name] = y
    return y
