"""The seed's entry points (`python -m evaluation.eval`, `python -m evaluation.eval_agent`): thin
wrappers around the `matheval` package."""
