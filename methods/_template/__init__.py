"""TEMPLATE -- copy this folder to ``methods/<name>/`` to add a method (see README.md).

Importing the package registers the method (its ``method`` module runs ``@METHODS.register``).
``methods/__init__.py`` declares every real method (the module that registers it; it is imported
on first use); it deliberately does NOT declare ``methods._template``, so the template never appears
in ``benchmark list`` or ``benchmark run --methods all``. Your copy gets one line in its table:

    "methods.<name>.method": ("<name>",),
"""

from methods._template import method  # noqa: F401
