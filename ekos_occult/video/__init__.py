"""Video files: the SER format (read and write), a recording checked against its plan, disk space.

Layer: beside ``plan``, above the core. May import: the core modules only.
"""
