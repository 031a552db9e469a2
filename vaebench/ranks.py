"""Which process may write: global rank 0 of a DDP run (or the only process)."""

from __future__ import annotations

import os

RANK_VARIABLES = ("RANK", "NODE_RANK", "LOCAL_RANK", "SLURM_PROCID")


def is_global_zero() -> bool:
    """Whether this process is global rank 0. Works before Lightning has set up DDP too: the
    launchers (Lightning's, torchrun, SLURM) put the rank in the environment."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank() == 0
    except ImportError:
        pass
    try:
        return all(int(os.environ.get(v, "0") or 0) == 0 for v in RANK_VARIABLES)
    except ValueError:
        return True
