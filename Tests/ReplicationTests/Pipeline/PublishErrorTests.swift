import BinaryCache
import Testing
@testable import Replication

@Suite struct PublishErrorTests {
    /// A destination's failure is kept whole, not turned into a string: callers can tell a bad
    /// URL from a refused upload by its type.
    @Test func aDestinationFailureKeepsTheDestinationsError() {
        let error = PublishError.destination(storePath(1), .init(DestinationError.unsupportedURL("ftp://cache")))
        guard case .destination(let path, let cause) = error else {
            Issue.record("not a destination failure: \(error)")
            return
        }
        #expect(path == storePath(1))
        #expect(cause.underlying is DestinationError)
        #expect(error.description.hasSuffix(": \(DestinationError.unsupportedURL("ftp://cache"))"), "\(error)")
    }
}
