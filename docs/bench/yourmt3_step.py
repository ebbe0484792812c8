"""The anchor of `amt bench train`: one training step of YourMT3's own PyTorch model (forward
with teacher forcing, backward, gradient clipping, AdamW; float32) at YourMT3's sizes, on
random audio and half-padded targets, timed on this machine.

    YOURMT3_SRC=/path/to/YourMT3/amt/src python docs/bench/yourmt3_step.py MODEL BATCH

MODEL: ymt3 (YMT3+), single (YPTF+Single), multi (YPTF+Multi), moe (YPTF.MoE+Multi).
Needs torch, transformers 4.45 and einops; Lightning, wandb and YourMT3's metrics module are
replaced by stand-ins. Prints seconds per step (mean of 2 after one warm-up) and peak RSS.
Compare with `amt bench train --model {ymt3+,yptf-single,yptf-multi,yptf-moe-multi}
--batch BATCH --threads 2`.
"""
import copy
import os
import resource
import sys
import time

import torch

# YourMT3's model with Lightning, wandb and its metrics replaced by stand-ins: the same setup as
# the golden-output script (which reads YOURMT3_SRC).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../model/tests/golden"))
from make_family import C, TaskManager, YourMT3  # noqa: E402

torch.set_num_threads(2)
which, batch = sys.argv[1], int(sys.argv[2])
audio_cfg = copy.deepcopy(C.audio_cfg)
model_cfg = copy.deepcopy(C.model_cfg)
shared_cfg = copy.deepcopy(C.shared_cfg)
shared_cfg["TOKENIZER"]["max_shift_steps"] = 206
task = "mt3_full_plus"
if which != "ymt3":
    audio_cfg.update(codec="spec", hop_length=300)
    model_cfg["encoder_type"] = "perceiver-tf"
    model_cfg["encoder"]["perceiver-tf"]["attention_to_channel"] = True
if which in ("multi", "moe"):
    task = "mc13_full_plus_256"
    model_cfg["decoder_type"] = "multi-t5"
    model_cfg["encoder"]["perceiver-tf"]["num_latents"] = 26
if which == "moe":
    model_cfg["encoder"]["perceiver-tf"].update(
        sca_use_query_residual=True, ff_layer_type="moe", ff_widening_factor=4, moe_num_experts=8,
        moe_topk=2, hidden_act="silu", position_encoding_type="rope", rope_partial_pe=True,
    )
tm = TaskManager(task_name=task, max_shift_steps=206)
model = YourMT3(audio_cfg=audio_cfg, model_cfg=model_cfg, shared_cfg=shared_cfg, task_manager=tm)
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
channels = 13 if which in ("multi", "moe") else 1
length = 256 if channels == 13 else 1024
x = torch.randn(batch, 1, 32767)
labels = torch.zeros(batch, channels, length, dtype=torch.long)
labels[:, :, : length // 2] = torch.randint(2, 596, (batch, channels, length // 2))
labels[:, :, length // 2] = 1
times = []
for i in range(3):
    t = time.time()
    opt.zero_grad()
    out = model.forward(x, labels)
    out["loss"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if i:
        times.append(time.time() - t)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
print(f"{which} batch {batch}: YourMT3 PyTorch {sum(times) / len(times):.2f} s/step, peak RSS {rss:.2f} GB")
