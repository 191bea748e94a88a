// spec 004 example script (its manifest names script.js)
