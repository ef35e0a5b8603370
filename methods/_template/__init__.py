"""TEMPLATE -- copy this folder to ``methods/<name>/`` to add a method (see README.md).

Importing the package registers the method (its ``method`` module runs ``@METHODS.register``).
``methods/__init__.py`` imports every real method's package with one line; it deliberately does
NOT import ``methods._template``, so the template never appears in ``benchmark list`` or
``benchmark run --methods all``. Your copy gets that one line:

    from methods import <name>  # noqa: F401
"""

from methods._template import method  # noqa: F401
