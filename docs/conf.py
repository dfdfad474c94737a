"""
Sphinx configuration of the twistedsched documentation.

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference comes from the docstrings (epytext, as in Twisted) through
pydoctor's Sphinx extension, which runs pydoctor during the build and writes
its pages to C{_build/html/api/}.  Links from docstrings to Twisted use an
inventory of the installed Twisted that pydoctor makes once per Twisted
version (no network needed).
"""

import os
import pathlib
import subprocess
import sys

import twisted

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from twistedsched import __version__  # noqa: E402

project = "twistedsched"
author = "the twistedsched authors"
copyright = "the twistedsched authors (MIT licence)"
version = release = __version__

extensions = [
    "sphinx.ext.intersphinx",
    "pydoctor.sphinx_ext.build_apidocs",
]
exclude_patterns = ["_build"]
nitpicky = True                 # a reference to a missing API object is an error
html_theme = "alabaster"        # ships with Sphinx: no other dependency
html_theme_options = {"description": "cron and at inside Twisted, and a daemon",
                      "fixed_sidebar": True}
html_static_path = []

TWISTED_API = "https://docs.twisted.org/en/stable/api/"


def twisted_inventory():
    """
    The path of an objects.inv for the installed Twisted, made by pydoctor
    the first time (about 30 s) and kept in C{_build/} afterwards.
    """
    out = HERE / "_build" / ("twisted-%s-inventory" % (twisted.__version__,))
    inventory = out / "objects.inv"
    if not inventory.exists():
        source = pathlib.Path(twisted.__file__).parent
        run = subprocess.run(
            [sys.executable, "-m", "pydoctor", "--make-intersphinx", "--quiet", "--quiet",
             "--docformat=plaintext", "--project-name=Twisted",
             "--html-output=%s" % (out,), str(source)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if not inventory.exists():
            raise RuntimeError("pydoctor could not index Twisted:\n" + run.stdout[-2000:])
    return str(inventory)


TWISTED_INVENTORY = twisted_inventory()

# Sphinx pages may link Twisted's API too (:py:class:`twisted.internet.task.Clock`).
intersphinx_mapping = {"twisted": (TWISTED_API, TWISTED_INVENTORY)}

# The API reference: pydoctor, as Twisted builds its own.  Every line pydoctor
# prints (a docstring it cannot parse, a link it cannot resolve) becomes a
# Sphinx warning, so -W fails on it.
pydoctor_args = [
    "--project-name=twistedsched",
    "--project-version=%s" % (__version__,),
    "--project-url=../index.html",      # the header links back to these pages
    "--project-base-dir=%s" % (ROOT,),
    "--docformat=epytext",
    "--html-output={outdir}/api",
    "--intersphinx-file=%s::%s" % (TWISTED_INVENTORY, TWISTED_API),
    # Console commands' docstrings are their help text (plain, not epytext);
    # docs/console.rst documents the commands.
    "--privacy=HIDDEN:twistedsched.console.ConsoleProtocol.do_*",
    str(ROOT / "twistedsched"),
]
# Where the pages are, for :py: references from these pages into the API.
pydoctor_url_path = "api/"
