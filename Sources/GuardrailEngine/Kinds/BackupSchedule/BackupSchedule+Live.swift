import GuardrailCore

extension BackupSchedule: StoredLiveKind {
    typealias Store = BackupScheduleStore
}
