"""A Sphinx extension that gives each page every script once.

sphinx-thebe 0.3 adds its inline configuration (`const THEBE_JS_URL = ...`) and sphinx-togglebutton its selector
once per reading pass, and Jupyter Book 1 makes two, so every page declared `THEBE_JS_URL` twice: a SyntaxError in
the console of every page. Dropping the repeats, in order, leaves what each extension meant to add.
"""


def _unique(app, pagename, templatename, context, doctree):
    seen, unique = set(), []  # an inline script has filename None or "", by the way it was added
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", script) or None, tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _unique, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
