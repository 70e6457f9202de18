"""Built-in plugins. Each is loaded by name through `monmouth.core.plugins`, and replaceable."""
