import tree_sitter_typescript

from indexing.plugins import LanguagePlugin

QUERY = """
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(method_definition name: (property_identifier) @name) @definition.method
(method_signature name: (property_identifier) @name) @definition.method
(function_declaration name: (identifier) @name) @definition.function
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression)]) @definition.function
"""

PLUGIN = LanguagePlugin(
    name="typescript",
    language="TypeScript",
    extensions=(".ts", ".mts", ".cts"),
    load_language=tree_sitter_typescript.language_typescript,
    query_source=QUERY,
    method_parents=frozenset({"class", "interface"}),
)
