import tree_sitter_go

from indexing.plugins import LanguagePlugin

PLUGIN = LanguagePlugin(
    name="go",
    language="Go",
    extensions=(".go",),
    load_language=tree_sitter_go.language,
    query_source="""
(method_declaration name: (field_identifier) @name) @definition.method
(function_declaration name: (identifier) @name) @definition.function
(type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface
(type_spec name: (type_identifier) @name) @definition.type
""",
)
