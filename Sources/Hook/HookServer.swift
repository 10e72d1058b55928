import Foundation
import Logging
import StorePaths
import SystemSupport

/// The service's end of `narsync hook`: a Unix socket taking requests from trusted processes,
/// and the spool directory where requests wait when the service was not running.
///
/// One dedicated thread does everything with poll(2): accepting, reading every connection
/// without blocking, answering, and draining the spool (at start, whenever inotify reports a
/// new file, and every `spoolRescanInterval` in case an event was lost). Each connection has a
/// deadline and a size limit and at most `maximumConnections` are open, so a client that stalls
/// or sends garbage delays no one; the others wait in the listen backlog or, after their own
/// 200 ms, go to the spool.
public final class HookServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var socketPath: String
        /// The socket file's mode; clients need write permission to connect.
        public var socketMode: mode_t
        /// The socket file's group, so that a trusted group can reach it with mode 0660.
        public var socketGroup: gid_t?
        public var trust: HookTrust
        /// Where `narsync hook` spools requests; nil to not drain one.
        public var spool: Spool?
        public var storeDirectory: StoreDirectory
        /// How long a client has to send its request once accepted.
        public var connectionTimeout: Duration
        public var maximumConnections: Int
        public var spoolRescanInterval: Duration

        public static let defaultSocketPath = "/run/narsync/hook.sock"

        public init(
            socketPath: String = defaultSocketPath, socketMode: mode_t = 0o660, socketGroup: gid_t? = nil,
            trust: HookTrust = .rootOnly, spool: Spool? = Spool(directory: Spool.defaultDirectory),
            storeDirectory: StoreDirectory = .standard, connectionTimeout: Duration = .seconds(1),
            maximumConnections: Int = 16, spoolRescanInterval: Duration = .seconds(60)
        ) {
            self.socketPath = socketPath
            self.socketMode = socketMode
            self.socketGroup = socketGroup
            self.trust = trust
            self.spool = spool
            self.storeDirectory = storeDirectory
            self.connectionTimeout = connectionTimeout
            self.maximumConnections = max(1, maximumConnections)
            self.spoolRescanInterval = spoolRescanInterval
        }
    }

    /// Queues the outputs of a build (and notes the derivation) with the hook's priority and
    /// returns how many paths were new; throws if they cannot be queued (the client spools
    /// its request then, and a spooled request stays in the spool). `outputs` is empty when
    /// only the derivation is known (Nix 2.8.0, an unreadable .drv): its outputs are then in
    /// the Nix database's DerivationOutputs table.
    public typealias Enqueue = @Sendable (_ outputs: [StorePath], _ derivation: StorePath?) throws -> Int

    public let configuration: Configuration
    private let enqueue: Enqueue
    private let logger: Logger
    private let listener: FileDescriptor
    private let wakeReader: FileDescriptor
    private let wakeWriter: FileDescriptor
    private let spoolEvents: InotifyWatch?
    private let stopped = DispatchSemaphore(value: 0)
    private let stateLock = NSLock()
    private var isShutDown = false

    /// Binds the socket, drains the spool once and starts serving on a thread of its own, until
    /// `shutdown()`.
    /// - Throws: `SystemError` if the socket cannot be created, for example because another
    ///   service is listening on it.
    public init(configuration: Configuration, logger: Logger = Logger(label: "narsync.hook"), enqueue: @escaping Enqueue) throws {
        self.configuration = configuration
        self.enqueue = enqueue
        self.logger = logger
        spoolEvents = try configuration.spool.map { try Self.watch($0) }
        listener = try Self.listen(configuration)
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw SystemError("cannot create a pipe for", configuration.socketPath) }
        wakeReader = FileDescriptor(owning: pipeEnds[0])
        wakeWriter = FileDescriptor(owning: pipeEnds[1])
        UnixSocket.makeNonBlocking(wakeReader)
        UnixSocket.makeNonBlocking(wakeWriter)
        let thread = Thread { [self] in
            serve()
            stopped.signal()
        }
        thread.name = "narsync-hook"
        thread.start()
    }

    /// Stops accepting, drops open connections (their clients spool) and removes the socket
    /// file. Returns once the server's thread has finished.
    public func shutdown() {
        stateLock.lock()
        let alreadyShutDown = isShutDown
        isShutDown = true
        stateLock.unlock()
        guard !alreadyShutDown else { return }
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWriter.rawValue, &byte, 1)
        stopped.wait()
        unlink(configuration.socketPath)
    }

    // MARK: - The loop

    private func serve() {
        var connections: [HookConnection] = []
        var nextRescan = ContinuousClock.now
        while true {
            let now = ContinuousClock.now
            if configuration.spool != nil, now >= nextRescan {
                // A long spool is drained a batch at a time, so that clients are served between batches.
                let drainedAll = drainSpool()
                nextRescan = drainedAll ? now + configuration.spoolRescanInterval : now
            }
            for connection in connections where connection.deadline <= now {
                logger.warning("hook client sent no complete request in time", metadata: ["peer": "\(connection.peer)"])
                connection.finish(answer: "error the request did not arrive within \(configuration.connectionTimeout)")
            }
            connections.removeAll { $0.deadline <= now }

            var entries = [pollfd(fd: wakeReader.rawValue, events: Int16(POLLIN), revents: 0)]
            let acceptsMore = connections.count < configuration.maximumConnections
            entries.append(pollfd(fd: acceptsMore ? listener.rawValue : -1, events: Int16(POLLIN), revents: 0))
            entries.append(pollfd(fd: spoolEvents?.descriptor.rawValue ?? -1, events: Int16(POLLIN), revents: 0))
            entries += connections.map { pollfd(fd: $0.socket.rawValue, events: Int16(POLLIN), revents: 0) }
            let wakeUp = connections.map(\.deadline).min().map { min($0, nextRescan) } ?? nextRescan
            let timeout = configuration.spool == nil && connections.isEmpty ? -1 : UnixSocket.milliseconds(now.duration(to: wakeUp))
            guard retryingOnInterrupt({ poll(&entries, nfds_t(entries.count), timeout) }) >= 0 else {
                logger.error("the hook socket's poll failed: \(String(cString: strerror(errno)))")
                usleep(100_000)  // Not a busy loop while the error lasts.
                continue
            }

            if entries[0].revents != 0 { break }
            // Connections first: accepting may append to `connections`, shifting nothing before it.
            var finished = Set<Int>()
            for (index, connection) in connections.enumerated() where entries[3 + index].revents != 0 {
                switch connection.readAvailable() {
                case .reading: continue
                case .complete(let bytes): connection.finish(answer: handle(bytes, from: connection.peer))
                case .failed(let reason):
                    logger.warning("hook request refused", metadata: ["peer": "\(connection.peer)", "reason": "\(reason)"])
                    connection.finish(answer: "error \(reason)")
                }
                finished.insert(index)
            }
            connections = connections.enumerated().filter { !finished.contains($0.offset) }.map(\.element)
            if entries[1].revents != 0 { acceptAll(into: &connections) }
            if entries[2].revents != 0 {
                discardEvents()
                nextRescan = .now
            }
        }
        listener.close()
        connections.forEach { $0.socket.close() }
    }

    private func acceptAll(into connections: inout [HookConnection]) {
        while connections.count < configuration.maximumConnections {
            let fd = accept(listener.rawValue, nil, nil)
            guard fd >= 0 else {
                if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                    logger.warning("cannot accept a hook connection: \(String(cString: strerror(errno)))")
                    // Out of descriptors, say: clients spool meanwhile; do not spin on the listener.
                    usleep(100_000)
                }
                return
            }
            let socket = FileDescriptor(owning: fd)
            UnixSocket.makeNonBlocking(socket)
            guard let peer = PeerCredentials(socket: fd) else {
                socket.close()
                continue
            }
            let connection = HookConnection(socket: socket, peer: peer, deadline: .now + configuration.connectionTimeout)
            guard configuration.trust.trusts(peer) else {
                logger.warning("hook connection from an untrusted process refused", metadata: ["peer": "\(peer)"])
                connection.finish(answer: "error uid \(peer.uid) is not trusted by the narsync service")
                continue
            }
            connections.append(connection)
        }
    }

    /// Parses and enqueues one request from the socket; returns the answer line.
    private func handle(_ bytes: [UInt8], from peer: PeerCredentials) -> String {
        let request: HookRequest
        do {
            request = try HookRequest(parsing: bytes, storeDirectory: configuration.storeDirectory)
        } catch {
            logger.warning("malformed hook request refused", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            return "error \(error)"
        }
        do {
            let queued = try enqueue(request.outputs, request.derivation)
            logger.debug("hook request queued", metadata: [
                "peer": "\(peer)", "outputs": "\(request.outputs.count)", "new": "\(queued)",
            ])
            return "ok \(queued)"
        } catch {
            logger.error("cannot queue a hook request", metadata: ["peer": "\(peer)", "error": "\(error)"])
            return "error cannot queue the paths: \(error)"
        }
    }

    // MARK: - The spool

    /// How many spooled requests are enqueued before the loop looks at its clients again.
    static let spoolBatchSize = 64

    /// Enqueues up to `spoolBatchSize` spooled requests, oldest first, and returns whether that
    /// was all of them. A malformed one is moved aside; if enqueueing fails, the rest wait for
    /// the next rescan, in order.
    private func drainSpool() -> Bool {
        guard let spool = configuration.spool else { return true }
        for name in spool.removeAbandonedTemporaryFiles() {
            logger.notice("removed a spool file left half-written by a hook that died", metadata: ["file": "\(name)"])
        }
        let names: [String]
        do {
            names = try spool.pending()
        } catch {
            logger.error("cannot list the hook spool", metadata: ["error": "\(error)"])
            return true
        }
        for name in names.prefix(Self.spoolBatchSize) {
            do {
                let request = try spool.read(name, storeDirectory: configuration.storeDirectory)
                let queued = try enqueue(request.outputs, request.derivation)
                try spool.remove(name)
                logger.debug("spooled hook request queued", metadata: ["file": "\(name)", "new": "\(queued)"])
            } catch let error as SpoolError {
                guard case .malformed = error else {
                    logger.warning("\(error)")
                    continue
                }
                do {
                    let target = try spool.reject(name, reason: "\(error)")
                    logger.warning("\(error); moved to \(target)")
                } catch {
                    logger.error("cannot move a malformed spooled request aside", metadata: ["file": "\(name)", "error": "\(error)"])
                }
            } catch {
                logger.error("cannot queue a spooled hook request; retrying later", metadata: ["file": "\(name)", "error": "\(error)"])
                return true
            }
        }
        return names.count <= Self.spoolBatchSize
    }

    /// An inotify watch that becomes readable when a file appears in the spool.
    private static func watch(_ spool: Spool) throws -> InotifyWatch {
        try createDirectories(spool.directory, mode: 0o700)
        return try InotifyWatch(directory: spool.directory, mask: IN_MOVED_TO | IN_CREATE)
    }

    /// Any new file means "drain the spool", whichever it was.
    private func discardEvents() {
        _ = try? spoolEvents?.readEvents()
    }

    // MARK: - The socket

    private static func listen(_ configuration: Configuration) throws -> FileDescriptor {
        let path = configuration.socketPath
        try createParent(of: path)
        try removeStaleSocket(path)
        let socket = try UnixSocket.make(path: path)
        guard try UnixSocket.withAddress(path, { bind(socket.rawValue, $0, $1) }) == 0 else {
            throw SystemError("cannot bind the hook socket", path)
        }
        if let group = configuration.socketGroup, chown(path, uid_t.max, group) != 0 {
            throw SystemError("cannot give the hook socket group \(group):", path)
        }
        guard chmod(path, configuration.socketMode) == 0 else { throw SystemError("cannot set the mode of", path) }
        guard Glibc.listen(socket.rawValue, 64) == 0 else { throw SystemError("cannot listen on", path) }
        return socket
    }

    private static func createParent(of path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty { try createDirectories(parent, mode: 0o755) }
    }

    /// Removes a socket file left by a service that is gone; refuses to touch anything else,
    /// including a socket some other process still listens on.
    private static func removeStaleSocket(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SystemError("will not replace something that is not a socket with the hook socket", path, errno: EEXIST)
        }
        let probe = try UnixSocket.make(path: path)
        let connected = try UnixSocket.withAddress(path) { connect(probe.rawValue, $0, $1) } == 0 || errno == EAGAIN
        if connected { throw SystemError("another process is listening on the hook socket", path, errno: EADDRINUSE) }
        unlink(path)
    }
}
