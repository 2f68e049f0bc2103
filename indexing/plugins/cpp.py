import tree_sitter_cpp

from indexing.plugins import LanguagePlugin

PLUGIN = LanguagePlugin(
    name="cpp",
    language="C++",
    extensions=(".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx"),
    load_language=tree_sitter_cpp.language,
    query_source="""
(namespace_definition name: (namespace_identifier) @name) @definition.namespace
(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(function_definition
  declarator: (function_declarator
    declarator: (qualified_identifier name: (identifier) @name))) @definition.method
(function_definition
  declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
(function_definition
  declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(type_definition declarator: (type_identifier) @name) @definition.type
""",
    method_parents=frozenset({"class", "struct"}),
)
