"""Golden outputs of tiny YPTF models computed by YourMT3's own code (the original PyTorch
implementation, not amt's): a YPTF+Single (trainable tkd positions, MLP) and a
YPTF.MoE+Multi (query residual, MoE with SiLU experts, partial RoPE with YourMT3's quirks,
13 decoder channels) and a Conformer encoder with a T5 decoder (64 mel bins), all with random
weights, in eval mode.

The original is not vendored: point YOURMT3_SRC at the `amt/src` folder of a checkout of the
YourMT3 Space (e.g. lokman2k5/YourMT3 or luck058/YourMT3), with torch, transformers 4.45,
einops and safetensors installed:

    YOURMT3_SRC=/path/to/YourMT3/amt/src python model/tests/golden/make_family.py

Lightning, wandb and YourMT3's metrics module are replaced by stand-ins (only the model is
built). Writes beside this script, for NAME in {ptf_single, ptf_moe_multi}:
NAME_weights.safetensors (the state dict, YourMT3's names), NAME_spec.npy (2, 8, 1024),
NAME_labels.npy, NAME_encoder.npy (2, 8, K, 128), NAME_logits.npy (teacher-forced, YourMT3's
1/d_model training scale), NAME_greedy.npy (6 tokens per channel), and NAME_config.json (the
sizes the Rust test builds).
"""
import copy
import json
import os
import sys
import types

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ["YOURMT3_SRC"]
sys.path.insert(0, SRC)


def stand_ins():
    wandb = types.ModuleType("wandb")
    wandb.Table = lambda **k: None
    sys.modules["wandb"] = wandb
    pl = types.ModuleType("pytorch_lightning")

    class Module(nn.Module):
        global_rank = 0

        def save_hyperparameters(self, *a, **k):
            pass

        @property
        def hparams(self):
            return {}

    pl.LightningModule = Module
    sys.modules["pytorch_lightning"] = pl
    metrics = types.ModuleType("utils.metrics")
    metrics.compute_track_metrics = None
    metrics.AMTMetrics = None
    sys.modules["utils.metrics"] = metrics


stand_ins()
from config import config as C  # noqa: E402
from model.ymt3 import YourMT3  # noqa: E402
from utils.task_manager import TaskManager  # noqa: E402

FRAMES = 8
GREEDY = 6


def build_conformer():
    audio_cfg = copy.deepcopy(C.audio_cfg)
    model_cfg = copy.deepcopy(C.model_cfg)
    shared_cfg = copy.deepcopy(C.shared_cfg)
    audio_cfg["n_mels"] = 64
    shared_cfg["TOKENIZER"]["max_shift_steps"] = 206
    model_cfg["encoder_type"] = "conformer"
    model_cfg["encoder"]["conformer"].update(
        d_model=64, intermediate_size=96, num_heads=2, num_layers=2, conv_depthwise_kernel_size=7
    )
    model_cfg["decoder"]["t5"].update(num_layers=1, num_heads=2, d_model=64)
    tm = TaskManager(task_name="mt3_full_plus", max_shift_steps=206)
    model = YourMT3(audio_cfg=audio_cfg, model_cfg=model_cfg, shared_cfg=shared_cfg, task_manager=tm)
    return model, tm


def build(multi):
    audio_cfg = copy.deepcopy(C.audio_cfg)
    model_cfg = copy.deepcopy(C.model_cfg)
    shared_cfg = copy.deepcopy(C.shared_cfg)
    audio_cfg["codec"] = "spec"
    audio_cfg["hop_length"] = 300
    shared_cfg["TOKENIZER"]["max_shift_steps"] = 206
    model_cfg["encoder_type"] = "perceiver-tf"
    model_cfg["conv_out_channels"] = 8
    p = model_cfg["encoder"]["perceiver-tf"]
    p.update(
        attention_to_channel=True,
        num_blocks=1,
        num_local_transformers_per_block=1,
        num_temporal_transformers_per_block=1,
        num_latents=4,
    )
    dec = "t5"
    task = "mt3_full_plus"
    if multi:
        task = "mc13_full_plus_256"
        dec = "multi-t5"
        model_cfg["decoder_type"] = dec
        p.update(
            num_latents=13,
            sca_use_query_residual=True,
            ff_layer_type="moe",
            ff_widening_factor=1,
            moe_num_experts=4,
            moe_topk=2,
            hidden_act="silu",
            position_encoding_type="rope",
            rope_partial_pe=True,
        )
    d = model_cfg["decoder"][dec]
    d.update(num_layers=1, num_heads=2, d_model=64)
    tm = TaskManager(task_name=task, max_shift_steps=206)
    model = YourMT3(audio_cfg=audio_cfg, model_cfg=model_cfg, shared_cfg=shared_cfg, task_manager=tm)
    return model, tm


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point() or "freqs" in name or "additive_pe" in name or "window" in name:
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith(("running_mean", "bias")) or "layernorm" in name or ".bn" in name:
                t.add_(0.1 * torch.randn(t.shape, generator=g))
            else:
                t.add_(0.02 * torch.randn(t.shape, generator=g))


def labels_for(channels, length, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(3, 596, (2, channels, length), generator=g)
    x[:, :, length - 3] = 1
    x[:, :, length - 2:] = 0
    return x


def main():
    torch.manual_seed(0)
    for name, multi in [("ptf_single", False), ("ptf_moe_multi", True), ("conformer", False)]:
        model, tm = build_conformer() if name == "conformer" else build(multi)
        randomise(model, 11 if multi else 10)
        model.eval()
        model.spectrogram = nn.Identity()  # inputs are spectrograms already
        g = torch.Generator().manual_seed(3)
        bins = 64 if name == "conformer" else 1024
        spec = torch.rand((2, FRAMES, bins), generator=g)
        channels = 13 if multi else 1
        labels = labels_for(channels, 12, 4)
        with torch.no_grad():
            pre = model.pre_encoder(spec)
            enc = model.encoder(inputs_embeds=pre)["last_hidden_state"]
            out = model.forward(spec, labels)
            greedy = model.inference(spec, None, max_token_length=GREEDY)
        lab = labels if multi else labels[:, 0]
        logits = out["logits"]
        if not multi:
            greedy = greedy[:, 0]
        sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        save_file(sd, os.path.join(HERE, f"{name}_weights.safetensors"))
        np.save(os.path.join(HERE, f"{name}_spec.npy"), spec.numpy().astype(np.float32))
        np.save(os.path.join(HERE, f"{name}_labels.npy"), lab.numpy().astype(np.int64))
        np.save(os.path.join(HERE, f"{name}_encoder.npy"), enc.numpy().astype(np.float32))
        np.save(os.path.join(HERE, f"{name}_logits.npy"), logits.numpy().astype(np.float32))
        np.save(os.path.join(HERE, f"{name}_greedy.npy"), greedy.numpy().astype(np.int64))
        dc = model.decoder.config
        cfg = {
            "latents": getattr(model.encoder.config, "num_latents", None),
            "conv_out_channels": 8,
            "decoder": {
                "d_model": dc.d_model,
                "num_heads": dc.num_heads,
                "d_kv": dc.d_kv,
                "d_ff": dc.d_ff,
                "num_layers": dc.num_layers,
                "num_max_positions": dc.num_max_positions,
            },
            "max_total_token_length": tm.max_total_token_length,
            "loss": float(out["loss"]),
        }
        with open(os.path.join(HERE, f"{name}_config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        print(name, cfg, "params", sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
