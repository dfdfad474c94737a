"""
Text references to callables: C{"package.module:qualname"}.
"""

import importlib
import sys

from twistedsched.errors import BadReferenceError


def is_reference(text):
    """True if C{text} looks like a C{module:qualname} reference."""
    return isinstance(text, str) and ":" in text


def resolve_reference(ref):
    """Import C{"package.module:qualname"} and return the callable it names."""
    if not is_reference(ref):
        raise BadReferenceError(
            "%r is not a reference of the form 'package.module:qualname'" % (ref,))
    modulename, _, qualname = ref.partition(":")
    if not modulename or not qualname:
        raise BadReferenceError(
            "%r is not a reference of the form 'package.module:qualname'" % (ref,))
    try:
        obj = sys.modules.get(modulename) or importlib.import_module(modulename)
    except ImportError as e:
        raise BadReferenceError(
            "cannot import module %r for reference %r: %s" % (modulename, ref, e)) from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise BadReferenceError(
                "module %r has no attribute %r (reference %r)" % (
                    modulename, qualname, ref)) from None
    if not callable(obj):
        raise BadReferenceError("reference %r names %r, which is not callable" % (ref, obj))
    return obj


def reference_to(func):
    """
    Return the C{module:qualname} text of C{func} if it resolves back to the
    same object, else C{None} (lambdas, nested functions, bound methods of
    instances).
    """
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    ref = "%s:%s" % (module, qualname)
    try:
        return ref if resolve_reference(ref) == func else None
    except BadReferenceError:
        return None
