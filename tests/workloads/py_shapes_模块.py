# py_shapes_模块.py: the non-ASCII module of py_shapes.py.


def größe_函数():
    return bytearray(1_000_006)                         # L_UNI
