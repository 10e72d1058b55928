import NixStore

/// Why a store path was not published.
public enum PublishError: Error, CustomStringConvertible, Sendable {
    /// The path was deleted (garbage-collected) after it was read from the database.
    case vanished(StorePath)
    /// The NAR read from disk differs from what Nix registered: the store path was modified.
    case hashMismatch(StorePath, expected: String, actual: String)
    /// A reference could not be published, so neither can this path.
    case dependencyFailed(StorePath, dependency: StorePath)
    case unreadable(StorePath, String)
    /// The destination refused or failed; its error names the key and status.
    case destination(StorePath, Cause)

    public var path: StorePath {
        switch self {
        case .vanished(let path), .hashMismatch(let path, _, _), .dependencyFailed(let path, _),
             .unreadable(let path, _), .destination(let path, _):
            path
        }
    }

    public var description: String { message(in: .standard) }

    /// The message, with store paths in full as the user knows them.
    public func message(in storeDirectory: StoreDirectory) -> String {
        let path = storeDirectory.fullPath(of: self.path)
        return switch self {
        case .vanished:
            "\(path): skipped, it is no longer in the store (garbage-collected)"
        case .hashMismatch(_, let expected, let actual):
            "\(path): not published, its contents changed since Nix registered it: the database says \(expected), the files hash to \(actual); run `nix-store --verify --check-contents --repair` on this machine"
        case .dependencyFailed(_, let dependency):
            "\(path): not published because its reference \(storeDirectory.fullPath(of: dependency)) could not be published"
        case .unreadable(_, let reason):
            "\(path): cannot read it: \(reason)"
        case .destination(_, let failure):
            "\(path): \(failure)"
        }
    }
}

extension PublishError {
    /// What a destination threw while a path was published, kept whole: code can look at the
    /// underlying error's type (`DestinationError`, a curl or S3 failure), messages show its text.
    public struct Cause: Error, CustomStringConvertible, ExpressibleByStringLiteral {
        public let underlying: any Error

        public init(_ underlying: any Error) {
            self.underlying = underlying
        }

        /// A failure known only by its message.
        public init(stringLiteral message: String) {
            underlying = Message(text: message)
        }

        public var description: String { "\(underlying)" }

        private struct Message: Error, CustomStringConvertible {
            var text: String
            var description: String { text }
        }
    }
}
