"""`python -m evaluation.eval_agent`: the seed's agent evaluation command; same as `matheval agent`."""

import sys

from matheval.cli import eval_agent_main

if __name__ == "__main__":
    sys.exit(eval_agent_main())
