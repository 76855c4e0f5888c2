"""Analytics: pure numpy/scipy functions on [points x time-slots] grids, no I/O.

Being built (issue 4).
"""
