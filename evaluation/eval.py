"""`python -m evaluation.eval`: the seed's base evaluation command; same as `matheval eval`."""

import sys

from matheval.cli import eval_main

if __name__ == "__main__":
    sys.exit(eval_main())
