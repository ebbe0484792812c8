"""Golden outputs of a tiny YMT3+ (T5 encoder + decoder) for fixed weights and input, from an
implementation written here with plain torch ops from the spec (section 7.1), independent of
amt and of HF transformers.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch safetensors numpy
    /tmp/venv/bin/python model/tests/golden/make_ymt3.py

Writes beside this script: ymt3_weights.safetensors (YourMT3's state-dict names), ymt3_spec.npy
(1, 32, 128) input, ymt3_labels.npy (1, 16), ymt3_encoder.npy (1, 32, 128),
ymt3_logits.npy (1, 16, 596) teacher-forced with 1/sqrt(d) logit scaling, ymt3_greedy.npy
(1, 12) greedy tokens.
"""
import math
import os

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
D, H, DKV, DFF, L_ENC, L_DEC, V = 128, 4, 32, 256, 2, 2, 596
T, N, NPOS = 32, 16, 42
torch.manual_seed(7)


def sinusoid(n, d):
    pe = torch.zeros(n, d)
    half = d // 2
    for p in range(n):
        for j in range(d):
            a = p / (10000 ** (2 * (j // 2) / d))
            if j % 2 == 0:
                pe[p, j // 2] = math.sin(a)
            else:
                pe[p, half + j // 2] = math.cos(a)
    return pe


def rnd(*shape, std=0.1):
    return torch.randn(*shape) * std


W = {}
for stack, layers, dec in [("encoder.encoder", L_ENC, False), ("decoder.decoder", L_DEC, True)]:
    W[f"{stack}.additive_pe.weight"] = sinusoid(NPOS, D)
    for i in range(layers):
        b = f"{stack}.block.{i}.layer"
        attns = [(0, "SelfAttention")] + ([(1, "EncDecAttention")] if dec else [])
        for li, name in attns:
            for w in "qkv":
                W[f"{b}.{li}.{name}.{w}.weight"] = rnd(H * DKV, D)
            W[f"{b}.{li}.{name}.o.weight"] = rnd(D, H * DKV)
            W[f"{b}.{li}.layer_norm.weight"] = 1.0 + rnd(D)
        ff = 2 if dec else 1
        W[f"{b}.{ff}.DenseReluDense.wi_0.weight"] = rnd(DFF, D)
        W[f"{b}.{ff}.DenseReluDense.wi_1.weight"] = rnd(DFF, D)
        W[f"{b}.{ff}.DenseReluDense.wo.weight"] = rnd(D, DFF)
        W[f"{b}.{ff}.layer_norm.weight"] = 1.0 + rnd(D)
    W[f"{stack}.final_layer_norm.weight"] = 1.0 + rnd(D)
W["embed_tokens.weight"] = torch.randn(V, D)
W["lm_head.lm_head.weight"] = rnd(V, D, std=0.5)


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w


def attn(x, kv, pre, mask=None):
    b, lq, _ = x.shape
    lk = kv.shape[1]
    q = (x @ W[pre + ".q.weight"].T).view(b, lq, H, DKV).transpose(1, 2)
    k = (kv @ W[pre + ".k.weight"].T).view(b, lk, H, DKV).transpose(1, 2)
    v = (kv @ W[pre + ".v.weight"].T).view(b, lk, H, DKV).transpose(1, 2)
    s = q @ k.transpose(-1, -2)  # no 1/sqrt(d)
    if mask is not None:
        s = s + mask
    o = torch.softmax(s.float(), -1) @ v
    return o.transpose(1, 2).reshape(b, lq, H * DKV) @ W[pre + ".o.weight"].T


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def ff(x, pre):
    h = gelu_new(x @ W[pre + ".wi_0.weight"].T) * (x @ W[pre + ".wi_1.weight"].T)
    return h @ W[pre + ".wo.weight"].T


def stack(x, name, layers, enc=None):
    l = x.shape[1]
    h = x + W[f"{name}.additive_pe.weight"][:l]
    mask = None
    if enc is not None:
        mask = torch.triu(torch.full((l, l), torch.finfo(torch.float32).min), 1).view(1, 1, l, l)
    for i in range(layers):
        b = f"{name}.block.{i}.layer"
        h = h + attn(rms(h, W[f"{b}.0.layer_norm.weight"]), rms(h, W[f"{b}.0.layer_norm.weight"]), f"{b}.0.SelfAttention", mask)
        fi = 1
        if enc is not None:
            h = h + attn(rms(h, W[f"{b}.1.layer_norm.weight"]), enc, f"{b}.1.EncDecAttention")
            fi = 2
        h = h + ff(rms(h, W[f"{b}.{fi}.layer_norm.weight"]), f"{b}.{fi}.DenseReluDense")
    return rms(h, W[f"{name}.final_layer_norm.weight"])


def logits_of(dec_hs):
    return (dec_hs * D**-0.5) @ W["lm_head.lm_head.weight"].T


spec = torch.rand(1, T, D)
labels = torch.tensor([[340, 269, 339, 53, 338, 273, 504, 103, 337, 269, 1, 0, 0, 0, 0, 0]])
with torch.no_grad():
    enc = stack(spec, "encoder.encoder", L_ENC)
    dec_in = torch.cat([torch.zeros(1, 1, dtype=torch.long), labels[:, :-1]], 1)
    logits = logits_of(stack(W["embed_tokens.weight"][dec_in], "decoder.decoder", L_DEC, enc))
    seq = torch.zeros(1, 1, dtype=torch.long)
    out = []
    for _ in range(12):
        h = stack(W["embed_tokens.weight"][seq], "decoder.decoder", L_DEC, enc)
        nxt = logits_of(h[:, -1:]).argmax(-1)
        out.append(int(nxt))
        seq = torch.cat([seq, nxt], 1)
        if int(nxt) == 1:
            break
    out += [0] * (12 - len(out))

save_file({k: v.contiguous().float() for k, v in W.items()}, os.path.join(HERE, "ymt3_weights.safetensors"))
np.save(os.path.join(HERE, "ymt3_spec.npy"), spec.numpy().astype(np.float32))
np.save(os.path.join(HERE, "ymt3_labels.npy"), labels.numpy().astype(np.int64))
np.save(os.path.join(HERE, "ymt3_encoder.npy"), enc.numpy().astype(np.float32))
np.save(os.path.join(HERE, "ymt3_logits.npy"), logits.numpy().astype(np.float32))
np.save(os.path.join(HERE, "ymt3_greedy.npy"), np.array([out], dtype=np.int64))
print("greedy", out)
