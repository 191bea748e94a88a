"""A vendored package (a directory with __init__.py) that imports a
submodule of its own and the module beside it in lib/."""
import colorsys

from .words import HELLO


def greet(name):
    return "%s, %s from %s" % (HELLO, name, colorsys.ORIGIN)
