import SystemSupport

/// The libzstd worker threads of all the NARs compressing at once, shared.
///
/// Each worker holds its own window, tables and job buffers (about 5 MiB at level 3), and on a
/// machine with fewer cores than uploads in flight, more workers than cores only take turns.
/// So the workers are a budget: a NAR takes what is free up to its ask, and at least one
/// (libzstd's frames are the same for any number of workers from one up, so a resumed upload
/// compresses to the same bytes whatever it got), and gives them back when done.
final class CompressionWorkerBudget: Sendable {
    let total: Int32
    private let inUse = Locked<Int32>(0)

    init(total: Int32) { self.total = total }

    /// Workers for one NAR: between 1 and `total`, as many as are free.
    func take() -> Int32 {
        inUse.withLock { inUse in
            let granted = max(1, total - inUse)
            inUse += granted
            return granted
        }
    }

    func giveBack(_ workers: Int32) {
        inUse.withLock { $0 -= workers }
    }
}
