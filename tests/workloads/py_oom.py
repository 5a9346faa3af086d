# py_oom.py: grows by 8 MB at one known line until the memory cgroup it runs in kills it.
import sys

MB = 1_000_000
hold = []


def grow():
    while True:
        hold.append(b"x" * (8 * MB))                    # L_GROW: every byte touched


if len(sys.argv) > 1 and sys.argv[1] == "--ready":      # for the daemon's tests: say when running
    print("ready", flush=True)
grow()
