import tree_sitter_javascript

from indexing.plugins import LanguagePlugin

PLUGIN = LanguagePlugin(
    name="javascript",
    language="JavaScript",
    extensions=(".js", ".mjs", ".cjs", ".jsx"),
    load_language=tree_sitter_javascript.language,
    query_source="""
(class_declaration name: (identifier) @name) @definition.class
(method_definition name: (property_identifier) @name) @definition.method
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression)]) @definition.function
""",
)
