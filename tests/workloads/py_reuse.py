# py_reuse.py: code objects die and new ones take their addresses at once, as at start-up; each
# allocation must be named after the function that made it, not after the dead one whose address
# its code object took. Round k compiles f_kkk (file reuse_<k % 3>.py, first line 3 + k) and
# g_kkk (file reuse_g.py, first line 1: the same shape every round, only the name differs), calls
# each once so it allocates a size no other round uses through libc malloc, kept live, then drops
# both. f_kkk allocates on line k + 4 of its file, g_kkk on line 2. Prints the rounds and how
# often a code object took the address of one already dropped.
import ctypes
import gc

ROUNDS = 200
F_BASE, G_BASE = 3_000_000, 4_000_000
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
keep = []


def call(f, n):
    keep.append(f(libc.malloc, n))                      # L_CALL


def make(name, filename, blank):
    ns = {}
    src = "\n" * blank + f"def {name}(malloc, n):\n    return malloc(n)\n"
    exec(compile(src, filename, "exec"), ns)
    return ns[name]


def main():
    seen, reused = set(), 0
    for k in range(ROUNDS):
        f = make(f"f_{k:03d}", f"reuse_{k % 3}.py", 2 + k)
        g = make(f"g_{k:03d}", "reuse_g.py", 0)
        for fn in (f, g):
            a = id(fn.__code__)
            reused += a in seen
            seen.add(a)
        call(f, F_BASE + k)
        call(g, G_BASE + k)
        del f, g
        gc.collect()                                    # each function and its globals: a cycle
    print(f"rounds {ROUNDS} reused {reused}", flush=True)


main()
