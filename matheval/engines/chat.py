"""Chat messages -> the prompt text a local backend feeds the model.

One function so that every local backend (transformers, native, vLLM offline) renders the same
messages into the same tokens; results then differ only by the engine, never by the prompt.
"""

from __future__ import annotations

from .base import Messages


def continues_assistant(messages: Messages) -> bool:
    """A trailing assistant message is a prefix to continue (step-wise agents), not a finished turn."""
    return bool(messages) and messages[-1].get("role") == "assistant"


def render_prompt(tokenizer, messages: Messages) -> str:
    """Apply the model's chat template when it has one; otherwise a plain transcript.

    Base models without a template get "Question:/Answer:" style text, which is what few-shot
    evaluation of base models conventionally uses.
    """
    if getattr(tokenizer, "chat_template", None):
        if continues_assistant(messages):
            return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return plain_transcript(messages)


def plain_transcript(messages: Messages) -> str:
    labels = {"system": "", "user": "Question: ", "assistant": "Answer: "}
    parts = []
    for message in messages:
        label = labels.get(message["role"], message["role"].capitalize() + ": ")
        parts.append(label + message["content"])
    text = "\n\n".join(parts)
    if not continues_assistant(messages):
        text += "\n\nAnswer:"
    return text


def encode_prompt(tokenizer, messages: Messages) -> list[int]:
    """Token ids of the rendered prompt. The template already holds any BOS token, so the
    tokenizer must not add special tokens a second time."""
    return tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"]
