import tree_sitter_java

from indexing.plugins import LanguagePlugin

PLUGIN = LanguagePlugin(
    name="java",
    language="Java",
    extensions=(".java",),
    load_language=tree_sitter_java.language,
    query_source="""
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(constructor_declaration name: (identifier) @name) @definition.constructor
(method_declaration name: (identifier) @name) @definition.method
""",
)
