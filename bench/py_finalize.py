# bench/py_finalize.py N: N distinct stacks each holding one live block at the end of the program,
# all freed by finalization. Prints "pid P", then, from an atexit handler (which runs inside
# Py_FinalizeEx, after tidemark's probe at its entry), "atexit_ns T" on CLOCK_MONOTONIC.
import atexit
import os
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
print(f"pid {os.getpid()}", flush=True)
src = "\n".join(f"def f{i}():\n    return bytearray(2000)\n" for i in range(N))
ns = {}
exec(compile(src, "gen_finalize", "exec"), ns)
keep = [ns[f"f{i}"]() for i in range(N)]   # N code objects: N stacks, each one block of 2001 bytes


@atexit.register
def said():
    print(f"atexit_ns {time.clock_gettime_ns(time.CLOCK_MONOTONIC)}", flush=True)
