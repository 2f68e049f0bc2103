import tree_sitter_python

from indexing.plugins import LanguagePlugin

PLUGIN = LanguagePlugin(
    name="python",
    language="Python",
    extensions=(".py", ".pyi"),
    load_language=tree_sitter_python.language,
    query_source="""
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
""",
)
