"""Fine-tune an encoder on SST-2: the same command on one CPU, one GPU or N processes.

    python scripts/finetune.py train --model course-bert-small --output-dir runs/one
    torchrun --nproc_per_node 2 scripts/finetune.py train --model course-bert-small \\
        --output-dir runs/two

The work is done by `course_utils.finetune` (see its docstring); this file is the launcher
torchrun and `accelerate launch` expect.
"""

import sys

from course_utils.finetune import main

if __name__ == "__main__":
    sys.exit(main())
