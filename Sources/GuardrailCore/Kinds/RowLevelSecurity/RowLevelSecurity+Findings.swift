extension RowLevelSecurity {
    /// Warnings about desired policies that will not bind the roles they name, or tables whose
    /// settings make their policies moot. Postgres accepts all of these silently.
    public static func findings(desired: [RowLevelSecurity], live: CatalogState) -> [Finding] {
        var findings: [Finding] = []
        for rls in desired.sorted(by: { $0.table < $1.table }) {
            let facts = live.tableFacts[rls.table]
            if !rls.enabled {
                if !rls.policies.isEmpty {
                    findings.append(
                        Finding(
                            address: rls.address,
                            message:
                                "row-level security is disabled, so none of its \(rls.policies.count) polic\(rls.policies.count == 1 ? "y applies" : "ies apply")"
                        ))
                }
                continue
            }
            // PUBLIC includes the owner, but the owner bypasses every policy of a table that is not forced.
            if !rls.forced, let facts, rls.policies.contains(where: \.appliesToEveryone) {
                findings.append(
                    Finding(
                        address: rls.address,
                        message:
                            "its PUBLIC policies do nothing for its owner \(facts.owner): owners bypass row-level security unless the table is forced (set forced: true)"
                    ))
            }
            if !rls.policies.contains(where: { $0.mode == .permissive }) {
                findings.append(
                    Finding(
                        address: rls.address,
                        message:
                            "row-level security is enabled with no permissive policy, so every role but the owner sees no rows and can write none"))
            }
            for policy in rls.policies {
                let address = Self.address(rls.table, policy: policy.name)
                if policy.using == nil, policy.withCheck == nil {
                    findings.append(
                        Finding(
                            address: address,
                            message: policy.mode == .permissive
                                ? "the policy has neither using nor withCheck, so it admits no rows"
                                : "the policy has neither using nor withCheck, so it restricts nothing"))
                }
                for role in policy.roles where role != Policy.publicRole {
                    if live.roles[role]?.superuser == true {
                        findings.append(
                            Finding(address: address, message: "the policy does nothing for \(role): superusers bypass row-level security"))
                        continue
                    }
                    if live.roles[role]?.bypassRLS == true {
                        findings.append(Finding(address: address, message: "the policy does nothing for \(role): it has BYPASSRLS"))
                        continue
                    }
                    if !rls.forced, let facts, facts.owner == role || facts.rolesWithOwnerPrivileges.contains(role) {
                        let how = facts.owner == role ? "owns \(rls.table)" : "has the privileges of \(facts.owner), which owns \(rls.table)"
                        findings.append(
                            Finding(
                                address: address,
                                message:
                                    "the policy does nothing for \(role): it \(how), and owners bypass row-level security unless the table is forced (set forced: true)"
                            ))
                    }
                }
            }
        }
        return findings
    }
}
