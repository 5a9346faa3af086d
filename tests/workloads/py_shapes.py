# py_shapes.py: allocation sites in the shapes a Python stack can take: a generator, a coroutine
# run by asyncio, a class's __init__ (3.13 calls it through a hidden shim frame), recursion deeper
# than tidemark's 48 Python frames, and a non-ASCII function in a module whose file name is
# non-ASCII. Each site makes one bytearray of a size no other site uses, live to the end, so the
# test finds it by size: bytearray(n) asks malloc for n + 1 bytes. Lines are found by markers.
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py_shapes_模块 as modul  # noqa: E402

keep = []


def gen():
    for n in (1_000_001, 1_000_002):
        yield bytearray(n)                              # L_GEN


def consume():
    keep.extend(gen())                                  # L_CONSUME


async def worker():
    await asyncio.sleep(0)
    keep.append(bytearray(1_000_003))                   # L_ASYNC


async def main_async():
    await worker()                                      # L_AWAIT


class Holder:
    def __init__(self):
        self.buf = bytearray(1_000_004)                 # L_INIT


def make_holder():
    keep.append(Holder())                               # L_MAKE


def deep(n):
    if n == 0:
        keep.append(bytearray(1_000_005))               # L_DEEP
        return
    deep(n - 1)                                         # L_RECURSE


consume()
asyncio.run(main_async())
make_holder()
deep(60)
keep.append(modul.größe_函数())                          # L_CALL_UNI
os._exit(0)   # everything above is live at the end
