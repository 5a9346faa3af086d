# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# py_container.py: one known allocation, made by a container's own interpreter
# (tests/integration/test_containers.py copies it into the container's root).
import sys

sys.stdin.readline()                   # start when the test says it traces us
big = bytearray(8 << 20)               # L_BIG: PyObject_Malloc -> malloc(8388609)
sys.stdout.write("done\n")
sys.stdout.flush()
sys.stdin.readline()                   # hold, so a live report can be read
