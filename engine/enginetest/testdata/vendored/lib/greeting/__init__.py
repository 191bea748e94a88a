"""A vendored package (a directory with __init__.py) next to a module."""
import six


def greet(name):
    return six.ensure_str("hello, " + name)
