"""Chat messages -> the prompt text a local backend feeds the model.

One function so that every local backend (transformers, native, vLLM offline, openai's completions mode)
renders the same messages into the same tokens; results then differ only by the engine, never by the
prompt. `template_kwargs` reach the chat template (Qwen3's enable_thinking).

A trailing assistant message is continued, not answered: the prompt is the template's generation prompt
for the messages before it, followed by that message's text exactly as given. Rendering the message
through the template instead (transformers' continue_final_message) lets the template rewrite it:
DeepSeek-R1's drops everything before "</think>" from assistant turns, Qwen3's closes an empty reasoning
block in front of them, so a prefill "<think>\\n" or a cut reasoning handed back for its answer (budget
forcing) would not reach the model as written. A reasoning opener the template's generation prompt
already wrote (DeepSeek-R1's template since February 2025 ends with "<think>\\n") is not written twice.
"""

from __future__ import annotations

from .base import Messages

THINK_OPEN = "<think>"


def continues_assistant(messages: Messages) -> bool:
    """A trailing assistant message is a prefix to continue (step-wise agents), not a finished turn."""
    return bool(messages) and messages[-1].get("role") == "assistant"


def render_prompt(tokenizer, messages: Messages, template_kwargs: dict | None = None) -> str:
    """Apply the model's chat template when it has one; otherwise a plain transcript.

    Base models without a template get "Question:/Answer:" style text, which is what few-shot
    evaluation of base models conventionally uses.
    """
    if not getattr(tokenizer, "chat_template", None):
        return plain_transcript(messages)
    kwargs = template_kwargs or {}
    if continues_assistant(messages):
        head = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True, **kwargs)
        return head + continuation(head, messages[-1]["content"])
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)


def continuation(head: str, text: str) -> str:
    """The assistant text to write after the generation prompt `head` (see the module docstring)."""
    if text.startswith(THINK_OPEN) and head.rstrip().endswith(THINK_OPEN):
        rest = text[len(THINK_OPEN):]
        opened = head[head.rstrip().rindex(THINK_OPEN) + len(THINK_OPEN):]  # what the template wrote after it
        return rest[len(opened):] if rest.startswith(opened) else rest
    return text


def opens_reasoning(tokenizer, messages: Messages, template_kwargs: dict | None = None) -> bool:
    """Whether the template's generation prompt already starts the response inside a reasoning block (the
    generated text then holds only the closing marker)."""
    if not getattr(tokenizer, "chat_template", None):
        return False
    head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                         **(template_kwargs or {}))
    return head.rstrip().endswith(THINK_OPEN)


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


def encode_prompt(tokenizer, messages: Messages, template_kwargs: dict | None = None) -> list[int]:
    """Token ids of the rendered prompt. The template already holds any BOS token, so the
    tokenizer must not add special tokens a second time."""
    return tokenizer(render_prompt(tokenizer, messages, template_kwargs), add_special_tokens=False)["input_ids"]
