# Imports a module and a package from lib/, which the runner puts on
# sys.path ahead of the standard library: lib/colorsys.py shadows the
# stdlib's colorsys, and lib/greeting imports it and a submodule of its own.
import colorsys
import os

from greeting import greet

from maid_sdk import Plugin

plugin = Plugin()


@plugin.on_dashboard("probe")
def probe(ctx, params):
    here = os.path.dirname(os.path.abspath(__file__))
    return {
        # From the plugin's lib/, not the copy every Python has.
        "colorsys_from_lib": os.path.abspath(colorsys.__file__) == os.path.join(here, "lib", "colorsys.py"),
        "greeting": greet("maid"),
    }


plugin.run()
