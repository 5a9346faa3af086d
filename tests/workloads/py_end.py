# py_end.py: 20 x 1 MiB kept in a module-level list to the end of the program.
# Returning normally, CPython's finalization frees the list before the exit;
# with --os-exit, os._exit skips finalization. Lines are found by their markers.
import os
import sys

MiB = 1 << 20

keep = []
for i in range(20):
    keep.append(bytearray(MiB))                         # L_KEEP: 20 x (1 MiB + 1) live at the end
if len(sys.argv) > 1 and sys.argv[1] == "--os-exit":
    os._exit(0)
