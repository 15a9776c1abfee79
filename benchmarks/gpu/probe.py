"""Step 0 of check.sh: is there a CUDA GPU? Prints ``gpu MAJOR.MINOR NAME`` for device 0, or
one line saying why nothing will run (and exits 1)."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - any failure to import torch means: nothing to run
        print(f"check.sh: cannot import torch ({type(exc).__name__}: {exc}); nothing was run")
        return 1
    if not torch.cuda.is_available():
        print(f"check.sh: no CUDA GPU visible (torch {torch.__version__}, "
              f"cuda {torch.version.cuda}); nothing was run")
        return 1
    major, minor = torch.cuda.get_device_capability(0)
    print(f"gpu {major}.{minor} {torch.cuda.get_device_name(0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
