import tree_sitter_c

from indexing.plugins import LanguagePlugin

QUERY = """
(function_definition
  declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator declarator: (identifier) @name))) @definition.function
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.union
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(type_definition declarator: (type_identifier) @name) @definition.type
"""

PLUGIN = LanguagePlugin(
    name="c",
    language="C",
    extensions=(".c", ".h"),
    load_language=tree_sitter_c.language,
    query_source=QUERY,
)
