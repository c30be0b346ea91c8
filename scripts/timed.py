"""Run a command and print how long it took: `python scripts/timed.py NAME -- CMD ...`."""

import subprocess
import sys
import time

if __name__ == "__main__":
    sep = sys.argv.index("--")
    name, cmd = " ".join(sys.argv[1:sep]), sys.argv[sep + 1 :]
    print(f"==> {name}", flush=True)
    start = time.perf_counter()
    code = subprocess.call(cmd)
    status = "ok" if code == 0 else f"FAILED (exit {code})"
    print(f"[time] {name}: {time.perf_counter() - start:.1f} s, {status}", flush=True)
    sys.exit(code)
