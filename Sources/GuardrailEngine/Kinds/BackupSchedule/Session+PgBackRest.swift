import Foundation
import GuardrailCore

extension Session {
    /// What a plan says about the pgBackRest side of `method: pgbackrest` schedules: whether the
    /// stanza still has to be created (the first `backup run` does it, with `stanza-create`), and
    /// archiving that is off or failing (`pg_stat_archiver`), as a finding on each such schedule.
    /// Read-only: nothing is created, and no WAL switch is forced.
    func checkPgBackRest(_ plan: Plan, configuration: Configuration) async -> Plan {
        let schedules = configuration.backupSchedules.filter { $0.method == .pgbackrest }
        guard !schedules.isEmpty else { return plan }
        var plan = plan
        guard let pgbackrest = environment.pgbackrest else {
            let why = environment.pgbackrestProblem?.summary ?? "environment \"\(environment.name)\" has no backups.pgbackrest section"
            for s in schedules { plan.findings.append(Finding(address: s.address, message: "pgBackRest cannot be reached: \(why)")) }
            return plan
        }
        for stanza in Set(schedules.map { $0.stanza ?? pgbackrest.stanza }).sorted() {
            do {
                let info = try await pgbackrest.info(stanza: stanza)
                if info.isMissing {
                    plan.notes.append(
                        "pgBackRest stanza \"\(stanza)\" does not exist in the repository yet: the first backup run creates it (pgbackrest stanza-create), then backs up."
                    )
                } else if let problem = info.problem, info.status.code != 2 {
                    for s in schedules where (s.stanza ?? pgbackrest.stanza) == stanza {
                        plan.findings.append(
                            Finding(address: s.address, message: "pgBackRest cannot read stanza \"\(stanza)\": " + PgBackRest.printable(problem)))
                    }
                }
            } catch {
                for s in schedules where (s.stanza ?? pgbackrest.stanza) == stanza {
                    plan.findings.append(Finding(address: s.address, message: PgBackRest.printable("\(error)")))
                }
            }
        }
        do {
            let runner = try BackupRunner(environment: environment)
            let archiver = try await runner.archiverStatus(on: connection)
            if let problem = archiver.problem {
                for s in schedules { plan.findings.append(Finding(address: s.address, message: problem)) }
            }
        } catch {
            plan.notes.append("pg_stat_archiver could not be read, so archiving was not checked: \(error)")
        }
        return plan
    }
}
