import Foundation

/// Which backups retention deletes. Pure, so the rule that matters most, never deleting the newest
/// good backup, is tested without files or a database.
public enum BackupRetention {
    /// A successful backup, as retention sees it.
    public struct Backup: Hashable, Sendable {
        public var id: Int
        public var finishedAt: Date

        public init(id: Int, finishedAt: Date) {
            self.id = id
            self.finishedAt = finishedAt
        }
    }

    /// The ids to prune: beyond the newest `keep`, or older than `maxAge`; never the newest one.
    public static func prunable(_ backups: [Backup], retention: BackupSchedule.Retention, now: Date) -> [Int] {
        let newestFirst = backups.sorted { ($0.finishedAt, $0.id) > ($1.finishedAt, $1.id) }
        guard let newest = newestFirst.first else { return [] }
        var prune: [Int] = []
        for (position, backup) in newestFirst.enumerated() where backup.id != newest.id {
            let overCount = retention.keep.map { position >= $0 } ?? false
            let tooOld = retention.maxAge.map { now.timeIntervalSince(backup.finishedAt) * 1000 > Double($0.milliseconds) } ?? false
            if overCount || tooOld { prune.append(backup.id) }
        }
        return prune.sorted()
    }
}
