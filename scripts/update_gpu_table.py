#!/usr/bin/env python3
"""Regenerate src/mlship/deps/data/gpu_compat.json from a package index (default: PyPI).

    scripts/update_gpu_table.py [--index-url URL] [--torch-variant-index https://download.pytorch.org/whl]

Each framework release's CUDA comes from its own wheel metadata; see mlship.deps.gpu_table.
"""

import sys

from mlship.deps.gpu_table import main

if __name__ == "__main__":
    sys.exit(main())
