"""transformers on the same random weights as the native engine: greedy agreement (where the two first
choose differently, and how close transformers' own logits were there), and one static `generate` batch
of the whole workload, eager, as a same-run baseline."""

from __future__ import annotations

import time

import torch

from matheval.engines.base import Sampling
from matheval.engines.native import NativeEngine
from matheval.engines.native.model import load_weights


def hf_model_from_config(config_path: str, device: str, dtype):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(config_path)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model.eval()


def agreement(engine: NativeEngine, hf, prompts, new_tokens: int, device: str) -> list[dict]:
    """Greedy tokens of native (all prompts batched) vs transformers (one prompt at a time), same weights."""
    load_weights(engine.core.runner.model, hf.state_dict().items())
    engine.reset_prefix_cache()  # blocks cached under the old weights must not serve these prompts
    completions = engine.generate_many([(p, Sampling(max_tokens=new_tokens)) for p in prompts])
    rows = []
    for prompt, completion in zip(prompts, completions):
        ids = torch.tensor([prompt], device=device)
        with torch.no_grad():
            out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=False,
                              eos_token_id=None, pad_token_id=0)  # fmt: skip
            theirs = out[0, len(prompt) :].tolist()
            mine = completion.token_ids[0]
            first = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), None)
            row = {"prompt_len": len(prompt), "first_divergence": first, "tokens": len(theirs)}
            if first is not None:  # how close the two choices were in transformers' own logits there
                logits = hf(torch.tensor([prompt + theirs[:first]], device=device)).logits[0, -1].float()
                row["logit_gap_at_divergence"] = round((logits[theirs[first]] - logits[mine[first]]).item(), 4)
                row["logit_std"] = round(logits.std().item(), 4)
        rows.append(row)
    return rows


def hf_static(hf, prompts, out_lens, device: str) -> dict:
    """transformers generate, one left-padded static batch, eager, running to the longest output."""
    from transformers import GenerationConfig

    width = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), width, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    config = GenerationConfig(max_new_tokens=max(out_lens), do_sample=False, eos_token_id=None, pad_token_id=0)
    torch.cuda.synchronize() if device == "cuda" else None
    started = time.perf_counter()
    with torch.no_grad():
        out = hf.generate(ids, attention_mask=mask, generation_config=config)
    torch.cuda.synchronize() if device == "cuda" else None
    wall = time.perf_counter() - started
    assert out.shape[1] - width == max(out_lens)
    return {"wall_s": round(wall, 2), "useful_tokens": sum(out_lens), "tok_s": round(sum(out_lens) / wall, 1)}
