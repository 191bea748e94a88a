"""Shadows the standard library's colorsys: the runner puts lib/ ahead of
the standard library on sys.path, so this file is what "import colorsys"
finds (docs/plugin-format.md, "Vendored packages")."""

ORIGIN = "lib"
