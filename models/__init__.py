"""The seed's `models` entry points (`python -m models.check_vllm`, inference engines): thin wrappers
around `matheval`."""
