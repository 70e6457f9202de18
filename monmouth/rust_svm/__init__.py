"""The boundary to the native SVM runtime (LiteSVM, the Rust Agave SVM, through solders).

Nothing outside this package imports solders' runtime types; the core talks to `SvmRuntime`
and gets plain bytes and frozen results back.
"""
