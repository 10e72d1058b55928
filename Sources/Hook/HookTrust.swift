import Foundation

/// Who may hand requests to the hook socket: root always, and the users and groups configured.
///
/// The socket file's mode is a first fence; this is the one that counts, since it is checked
/// against the kernel's record of the connecting process (SO_PEERCRED), which a client cannot forge.
public struct HookTrust: Sendable, Hashable {
    public var users: Set<uid_t>
    public var groups: Set<gid_t>

    /// Only root.
    public static let rootOnly = HookTrust()

    public init(users: Set<uid_t> = [], groups: Set<gid_t> = []) {
        self.users = users
        self.groups = groups
    }

    /// Whether `peer` is root, a trusted user, or in a trusted group, as its primary group or,
    /// by the user database, its login group or a supplementary one.
    public func trusts(_ peer: PeerCredentials) -> Bool {
        if peer.uid == 0 || users.contains(peer.uid) || groups.contains(peer.gid) { return true }
        guard !groups.isEmpty else { return false }
        return !groups.isDisjoint(with: Self.groupList(of: peer.uid))
    }

    /// The groups of user `uid` by the user database: its login group and those listing it.
    private static func groupList(of uid: uid_t) -> [gid_t] {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return [] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        while getgrouplist(entry.pw_name, entry.pw_gid, &groups, &count) == -1 {
            // `count` now says how many there are; one more try with room for all of them.
            guard count > Int32(groups.count), count < 65_536 else { return [] }
            groups = [gid_t](repeating: 0, count: Int(count))
        }
        return Array(groups.prefix(Int(count)))
    }
}

/// The process at the other end of a Unix socket, as the kernel recorded it at connect(2).
public struct PeerCredentials: Sendable, Hashable, CustomStringConvertible {
    public var pid: pid_t
    public var uid: uid_t
    public var gid: gid_t

    public init(pid: pid_t, uid: uid_t, gid: gid_t) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// The credentials of the peer of connected socket `fd`, or nil if the kernel gives none.
    init?(socket fd: Int32) {
        var credentials = KernelCredentials()
        var length = socklen_t(MemoryLayout<KernelCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        self.init(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
    }

    public var description: String { "pid \(pid), uid \(uid), gid \(gid)" }
}

/// Linux's `struct ucred`, which Swift's Glibc module does not export (it needs _GNU_SOURCE).
private struct KernelCredentials {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}
