# Imports a real pure-Python package (six, from Debian's python3-six) and a
# package of its own from lib/, which the runner puts on sys.path.
import os

import six
from greeting import greet
from six.moves import reduce

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("probe")
def probe(ctx, params):
    here = os.path.dirname(os.path.abspath(__file__))
    return {
        "six_version": six.__version__,
        # From the plugin's lib/, not a copy the host happens to have.
        "six_from_lib": os.path.abspath(six.__file__) == os.path.join(here, "lib", "six.py"),
        "greeting": greet("maid"),
        "sum": reduce(lambda a, b: a + b, [1, 2, 3]),
    }


plugin.run()
