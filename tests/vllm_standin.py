"""A STAND-IN for the `vllm` package, for tests only. It is not vLLM and is never installed as it.

Why: vLLM cannot be installed on our machines (they are CPU-only, and the GPU image's torch is not
the one vLLM pins), yet the vllm backend's adapter must be tested. This module reproduces the part of
vLLM's documented offline API the adapter uses, with the real names and semantics:

- `LLM(model, *, tokenizer, tensor_parallel_size, dtype, seed, gpu_memory_utilization, max_model_len,
  enable_prefix_caching, ...)`; unknown keyword arguments raise TypeError, as vLLM's EngineArgs do.
- `LLM.get_tokenizer()`, `LLM.generate(prompts, sampling_params, *, use_tqdm)` with prompts given as
  strings or as TokensPrompt dicts (`{"prompt_token_ids": [...]}`), one SamplingParams or one per prompt.
- `SamplingParams(n, temperature, top_p, max_tokens, stop, seed, ...)`: temperature 0 is greedy.
- `RequestOutput(request_id, prompt, prompt_token_ids, prompt_logprobs, outputs, finished)` and
  `CompletionOutput(index, text, token_ids, cumulative_logprob, logprobs, finish_reason, stop_reason)`;
  text excludes the stop string (include_stop_str_in_output=False), token_ids end with the token that
  completed it; finish_reason is "stop" (EOS or stop string) or "length".

Underneath, the real SmolLM2 model runs through plain transformers forward passes, one sequence at a
time (no batching, no paged cache: the scheduling is vLLM's business, not the adapter's), so texts are
real model output. Every `generate` call is recorded in `LLM.generate_calls` for the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__version__ = "0.0.0+standin"

ENGINE_ARGS = {"tokenizer", "tokenizer_mode", "trust_remote_code", "tensor_parallel_size", "pipeline_parallel_size",
               "dtype", "quantization", "revision", "seed", "gpu_memory_utilization", "swap_space", "enforce_eager",
               "max_model_len", "max_num_seqs", "max_num_batched_tokens", "enable_prefix_caching", "download_dir"}


@dataclass
class SamplingParams:
    n: int = 1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    seed: int | None = None
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    max_tokens: int | None = 16
    min_tokens: int = 0
    logprobs: int | None = None
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    prompt_logprobs: list | None
    outputs: list[CompletionOutput]
    finished: bool
    num_cached_tokens: int | None = None
    metrics: object = None
    extra: dict = field(default_factory=dict)


_MODELS: dict[str, tuple] = {}  # path -> (model, tokenizer): loaded once per test session


class LLM:
    def __init__(self, model: str, **kwargs):
        unknown = set(kwargs) - ENGINE_ARGS
        if unknown:
            raise TypeError(f"EngineArgs.__init__() got unexpected keyword arguments {sorted(unknown)}")
        self.model_path = model
        self.kwargs = kwargs
        self.generate_calls: list[list] = []
        if model not in _MODELS:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(kwargs.get("tokenizer") or model)
            weights = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
            _MODELS[model] = (weights, tokenizer)
        self.model, self.tokenizer = _MODELS[model]
        self.eos = set(self.model.generation_config.eos_token_id if isinstance(
            self.model.generation_config.eos_token_id, list) else [self.model.generation_config.eos_token_id])
        self._request_counter = 0

    def get_tokenizer(self):
        return self.tokenizer

    def generate(self, prompts, sampling_params=None, *, use_tqdm: bool = True, lora_request=None):
        prompts = [prompts] if isinstance(prompts, (str, dict)) else list(prompts)
        if sampling_params is None:
            sampling_params = SamplingParams()
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        if len(params) != len(prompts):
            raise ValueError("The lengths of prompts and sampling_params must be the same.")
        self.generate_calls.append(list(zip(prompts, params)))
        outputs = []
        for prompt, param in zip(prompts, params):
            if isinstance(prompt, dict) and "prompt_token_ids" in prompt:
                text, ids = prompt.get("prompt"), list(prompt["prompt_token_ids"])
            else:
                text = prompt["prompt"] if isinstance(prompt, dict) else prompt
                ids = self.tokenizer(text)["input_ids"]
            generator = torch.Generator().manual_seed(param.seed if param.seed is not None else torch.seed())
            samples = [self._sample(ids, param, index, generator) for index in range(param.n)]
            outputs.append(RequestOutput(str(self._request_counter), text, ids, None, samples, True))
            self._request_counter += 1
        return outputs

    @torch.inference_mode()
    def _sample(self, prompt_ids: list[int], param: SamplingParams, index: int, generator) -> CompletionOutput:
        stops = [param.stop] if isinstance(param.stop, str) else list(param.stop or [])
        out = self.model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1]
        tokens: list[int] = []
        finish, stop_reason, text = "length", None, ""
        while len(tokens) < param.max_tokens:
            if param.temperature == 0:
                token = int(torch.argmax(logits))
            else:
                probs = torch.softmax(logits / param.temperature, dim=-1)
                ordered, order = torch.sort(probs, descending=True)
                ordered[(torch.cumsum(ordered, 0) - ordered) >= param.top_p] = 0
                token = int(order[torch.multinomial(ordered / ordered.sum(), 1, generator=generator)])
            tokens.append(token)
            text = self.tokenizer.decode(tokens, skip_special_tokens=param.skip_special_tokens)
            if token in self.eos and not param.ignore_eos:
                finish = "stop"
                break
            hits = [(text.find(s), s) for s in stops if s in text]
            if hits:
                position, stop = min(hits)
                text, finish, stop_reason = text[:position], "stop", stop
                break
            out = self.model(input_ids=torch.tensor([[token]]), past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[0, -1]
        return CompletionOutput(index, text, tokens, None, None, finish, stop_reason)
