"""What a benchmark's JSON says about where it ran: device, driver, torch / CUDA / cuDNN versions."""

from __future__ import annotations

import os
import platform
import subprocess


def nvidia_smi(fields: str) -> str | None:
    """`nvidia-smi --query-gpu=FIELDS` of the first GPU, or None where there is none."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def environment(device: str = "cpu") -> dict:
    import lightning
    import torch

    env = {
        "device": device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   compute_capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count,
                   driver=nvidia_smi("driver_version"))
    return env


def device_check() -> dict:
    """The environment, plus whether CUDA works: a float32 matrix product on the GPU and its rate."""
    import time

    import torch

    cuda = torch.cuda.is_available()
    result = {"cuda_available": cuda, **environment("cuda" if cuda else "cpu")}
    if cuda:
        a = torch.randn(4096, 4096, device="cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(10):
            b = a @ a
        torch.cuda.synchronize()
        result["fp32_matmul_tflops"] = 10 * 2 * 4096**3 / (time.perf_counter() - start) / 1e12
        result["matmul_finite"] = bool(torch.isfinite(b).all())
    return result


if __name__ == "__main__":
    import json
    import sys

    check = device_check()
    text = json.dumps(check, indent=1)
    print(text)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
