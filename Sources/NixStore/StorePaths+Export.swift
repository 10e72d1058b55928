// Store paths and their directory live in StorePaths, which links no C library, so that the hook
// binary loads neither libcrypto, libsodium nor SQLite; every `import NixStore` still sees them.
@_exported import StorePaths
