# py_children.py: a process tree with known bytes at known lines (tests/integration/test_children.py).
# Lines are found by their markers.
#
#   py_children.py pool METHOD BYTES   the parent keeps BYTES (L_PARENT) and runs a
#                                      multiprocessing.Pool(4) (start method METHOD) of
#                                      4 tasks; task i holds (i + 1) * BYTES (L_WORKER)
#                                      until all 4 hold theirs, 0.3 s more, then returns
#   py_children.py subprocess BYTES    the parent keeps BYTES (L_KEEP) and runs this
#                                      file again through subprocess as "child"
#   py_children.py child BYTES         holds 3 * BYTES (L_CHILD) for 0.3 s and exits
import multiprocessing
import subprocess
import sys
import time

_barrier = None


def init(barrier):
    global _barrier
    _barrier = barrier


def work(i, n):
    b = bytearray((i + 1) * n)                          # L_WORKER
    _barrier.wait()                                     # every worker holds its block now
    time.sleep(0.3)
    return len(b)


def pool(method, n):
    keep = bytearray(n)                                 # L_PARENT
    ctx = multiprocessing.get_context(method)
    barrier = ctx.Barrier(4)
    with ctx.Pool(4, initializer=init, initargs=(barrier,)) as p:
        got = p.starmap(work, [(i, n) for i in range(4)])
    assert got == [(i + 1) * n for i in range(4)], got
    return len(keep)


def child(n):
    b = bytearray(3 * n)                                # L_CHILD
    time.sleep(0.3)
    return len(b)


if __name__ == "__main__":
    what, n = sys.argv[1], int(sys.argv[-1])
    if what == "pool":
        pool(sys.argv[2], n)
    elif what == "subprocess":
        keep = bytearray(n)                             # L_KEEP
        subprocess.run([sys.executable, __file__, "child", str(n)], check=True)
    else:
        child(n)
