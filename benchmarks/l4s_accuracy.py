"""Cross-validate training recipes on Landslide4Sense patches; see docs/accuracy.md.

    python benchmarks/l4s_accuracy.py --data ../shared/data/l4s --out cv.json

``--help`` lists the options; the code is :mod:`slidemap.bench.l4s_cv`.
"""

import sys

from slidemap.bench.l4s_cv import main

sys.exit(main())
