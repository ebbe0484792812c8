"""Checkpoint-shaped test files for `amt convert`, written with torch.save alone (no
Lightning, no YourMT3 code): the tiny YPTF.MoE+Multi of make_family.py (its weights,
YourMT3's names) inside a Lightning-style dict, and a malicious twin.

    python model/tests/golden/make_ckpt.py   # after make_family.py

Writes beside this script:
- ptf_moe_multi.ckpt: {"epoch", "global_step", "pytorch-lightning_version", "state_dict"
  (float32, RoPE frequencies shared under several names, two pitch-shifter buffers),
  "optimizer_states" (AdamW
  moments of every weight), "lr_schedulers", "callbacks", "hparams_name", "hyper_parameters"
  (YourMT3's model_cfg keys that the weights do not show, and a stand-in object of class
  utils.task_manager.TaskManager, as YourMT3's save_hyperparameters() stores one)}.
- malicious.ckpt: the same shape (a one-tensor state dict) with an object whose __reduce__
  calls os.system.
"""
import os
import sys
import types

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))

# A class that pickles as utils.task_manager.TaskManager (a reference, as YourMT3's does).
mod = types.ModuleType("utils.task_manager")
sys.modules["utils"] = types.ModuleType("utils")
sys.modules["utils.task_manager"] = mod


class TaskManager:
    def __init__(self):
        self.task_name = "mc13_full_plus_256"
        self.max_shift_steps = 206


TaskManager.__module__ = "utils.task_manager"
mod.TaskManager = TaskManager


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def checkpoint(extra, tiny=False):
    sd = load_file(os.path.join(HERE, "ptf_moe_multi_weights.safetensors"))
    if tiny:
        sd = {k: v for k, v in sd.items() if k.startswith("encoder.latent_array")}
    params = {k: v for k, v in sd.items() if v.is_floating_point()}
    # The shared RoPE frequencies: the same tensor under several names, as in YourMT3.
    shared = sd.get("encoder.rotary_emb_temporal.freqs")
    for k in list(sd):
        if k.endswith("rotary_emb.freqs") and "temporal_transformer" in k:
            sd[k] = shared
    sd["pitchshift.pshifters.-1.kernel"] = torch.randn(4, 1, 5)
    sd["pitchshift.pshifters.-1.window"] = torch.hann_window(8)
    opt = {
        "state": {
            i: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(v), "exp_avg_sq": torch.zeros_like(v)}
            # Moments of the first weights only: enough to be dropped, small on disk.
            for i, v in enumerate(list(params.values())[:3])
        },
        "param_groups": [{"lr": 1e-2, "betas": (0.9, 0.999), "params": list(range(len(params)))}],
    }
    ck = {
        "epoch": 3,
        "global_step": 1234,
        "pytorch-lightning_version": "2.1.0",
        "state_dict": sd,
        "loops": {"fit_loop": {"state_dict": {}}},
        "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.5)}},
        "optimizer_states": [opt],
        "lr_schedulers": [{"last_epoch": 1234}],
        "hparams_name": "kwargs",
        "hyper_parameters": {
            "audio_cfg": {"codec": "spec", "hop_length": 300, "n_mels": 512, "input_frames": 32767},
            "model_cfg": {
                "encoder_type": "perceiver-tf",
                "decoder_type": "multi-t5",
                "encoder": {
                    "perceiver-tf": {
                        "num_latents": 13,
                        "sca_use_query_residual": True,
                        "ff_layer_type": "moe",
                        "ff_widening_factor": 1,
                        "moe_num_experts": 4,
                        "moe_topk": 2,
                        "hidden_act": "silu",
                        "position_encoding_type": "rope",
                        "rope_partial_pe": True,
                        "rope_apply_to_keys": False,
                        "attention_to_channel": True,
                    }
                },
            },
            "task_manager": TaskManager(),
            **extra,
        },
    }
    return ck


torch.save(checkpoint({}), os.path.join(HERE, "ptf_moe_multi.ckpt"))
torch.save(checkpoint({"evil": Evil()}, tiny=True), os.path.join(HERE, "malicious.ckpt"))
print("wrote ptf_moe_multi.ckpt and malicious.ckpt")
