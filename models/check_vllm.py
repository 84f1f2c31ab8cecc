"""`python -m models.check_vllm`: the seed's vLLM check; same report as `matheval check`.

Exit status 0 when vLLM is usable on this machine, 1 otherwise.
"""

import sys

from matheval.check import main

if __name__ == "__main__":
    sys.exit(main())
