import tree_sitter_rust

from indexing.plugins import LanguagePlugin

PLUGIN = LanguagePlugin(
    name="rust",
    language="Rust",
    extensions=(".rs",),
    load_language=tree_sitter_rust.language,
    query_source="""
(struct_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(impl_item type: (type_identifier) @name) @definition.impl
(mod_item name: (identifier) @name) @definition.module
(function_item name: (identifier) @name) @definition.function
""",
    method_parents=frozenset({"impl", "trait"}),
)
