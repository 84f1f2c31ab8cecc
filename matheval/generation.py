"""The run's generation settings: one validated record, built where settings enter and passed down.

The CLI and the Python API build a `GenerationSettings` once; agents read it through `LLM`, which turns
it into each call's `engines.Sampling`. No layer below re-checks or re-defaults these values, so a flag
means the same thing on every path (lighteval's one-record rule).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .engines.base import DEFAULT_MAX_NEW_TOKENS, Sampling
from .errors import UserError


@dataclass(frozen=True)
class GenerationSettings:
    """How the run samples. Single-answer calls use temperature/top_p (greedy by default; a preset may
    sample, as DeepSeek-R1's 0.6/0.95), and so do the --num_samples samples of the plain evaluation; calls
    that draw several diverse samples (self-consistency, debaters, candidates) use the sample_* pair. top_k
    (0: off) applies to every call."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    sample_temperature: float = 0.7
    sample_top_p: float = 0.95
    top_k: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise UserError(f"--max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")
        for name in ("temperature", "sample_temperature"):
            if not getattr(self, name) >= 0:
                raise UserError(f"--{name} must be 0 (greedy) or more, got {getattr(self, name)}")
        for name in ("top_p", "sample_top_p"):
            if not 0 < getattr(self, name) <= 1:
                raise UserError(f"--{name} must be in (0, 1], got {getattr(self, name)}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise UserError(f"--top_k must be 0 (off) or a positive integer, got {self.top_k!r}")

    def sampling(self, diverse: bool = False) -> Sampling:
        """The Sampling of one call: the single-answer settings, or the diverse-sample ones."""
        if diverse:
            return Sampling(max_tokens=self.max_new_tokens, temperature=self.sample_temperature,
                            top_p=self.sample_top_p, top_k=self.top_k)
        return Sampling(max_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p,
                        top_k=self.top_k)

    def identity(self) -> dict:
        """The values as the journal's run identity has always named them (resume compares these)."""
        values = asdict(self)
        values["max_tokens"] = values.pop("max_new_tokens")
        if not values["top_k"]:
            del values["top_k"]  # off: as journals written before top-k existed name these settings
        return values
