extension RoleGrants {
    /// The desired state of this role, with `schemas:` grants expanded to the tables they hold now.
    /// Tables the role owns are left out: an owner's privileges are implicit and not managed.
    public func state(in live: CatalogState) -> RoleGrantsState {
        let privileges = privilegesByTable(tablesInSchema: live.tablesInSchema).filter { live.grantTableOwners[$0.key] != role }
        return RoleGrantsState(role: role, login: login, privileges: privileges)
    }

    /// Changes that make each role's privileges match the configuration, by role name.
    ///
    /// A missing role is created. A role Guardrail managed whose manifest is gone has its managed
    /// privileges revoked; the role itself is kept, since it may own objects or be in use.
    public static func changes(desired: [RoleGrants], live: CatalogState) -> [Change] {
        var changes: [Change] = []
        let desiredRoles = Set(desired.map(\.role))
        for roleGrants in desired.sorted(by: { $0.role < $1.role }) {
            let after = roleGrants.state(in: live)
            guard let before = live.roleGrants[roleGrants.role] else {
                var hazards: [Hazard] = []
                if !after.privileges.isEmpty { hazards.append(Hazard(.widensAccess, "grants " + describe(after.privileges))) }
                if after.login { hazards.append(Hazard(.widensAccess, "the new role can log in")) }
                changes.append(
                    Change(
                        address: roleGrants.address, kind: kind, action: .create, before: nil, after: after.attributes,
                        hazards: hazards, reason: "role \(roleGrants.role) does not exist; it is created \(after.login ? "with LOGIN" : "NOLOGIN")"))
                continue
            }
            guard before != after else { continue }
            let (granted, revoked) = delta(from: before.privileges, to: after.privileges)
            var hazards: [Hazard] = []
            var what: [String] = []
            if !granted.isEmpty {
                hazards.append(Hazard(.widensAccess, "grants " + describe(granted)))
                what.append("grants " + describe(granted))
            }
            if !revoked.isEmpty {
                hazards.append(Hazard(.mayBreakQueries, "revokes " + describe(revoked)))
                what.append("revokes " + describe(revoked))
            }
            if before.login != after.login {
                hazards.append(after.login ? Hazard(.widensAccess, "the role can log in") : Hazard(.mayBreakQueries, "the role can no longer log in"))
                what.append(after.login ? "allows login" : "forbids login")
            }
            changes.append(
                Change(
                    address: roleGrants.address, kind: kind, action: .update, before: before.attributes, after: after.attributes,
                    hazards: hazards, reason: what.joined(separator: "; ")))
        }
        for role in live.managedRoles.subtracting(desiredRoles).sorted() {
            guard let before = live.roleGrants[role] else { continue }
            var hazards: [Hazard] = []
            if !before.privileges.isEmpty {
                hazards.append(Hazard(.destroys, "revokes every privilege Guardrail manages for \(role): " + describe(before.privileges)))
                hazards.append(Hazard(.mayBreakQueries, "queries by \(role) on those tables fail with permission denied"))
            }
            changes.append(
                Change(
                    address: address(role), kind: kind, action: .delete, before: before.attributes, after: nil, hazards: hazards,
                    reason:
                        "\(address(role)) is managed by Guardrail but no longer in the configuration; its privileges are revoked and the role itself is kept"
                ))
        }
        return changes
    }

    /// Privileges to grant and to revoke, table by table.
    public static func delta(
        from before: [QualifiedName: Set<Privilege>], to after: [QualifiedName: Set<Privilege>]
    )
        -> (grant: [QualifiedName: Set<Privilege>], revoke: [QualifiedName: Set<Privilege>])
    {
        var grant: [QualifiedName: Set<Privilege>] = [:], revoke: [QualifiedName: Set<Privilege>] = [:]
        for table in Set(before.keys).union(after.keys) {
            let was = before[table] ?? [], will = after[table] ?? []
            if !will.subtracting(was).isEmpty { grant[table] = will.subtracting(was) }
            if !was.subtracting(will).isEmpty { revoke[table] = was.subtracting(will) }
        }
        return (grant, revoke)
    }

    /// `SELECT, INSERT on public.a, public.b; SELECT on public.c`: tables grouped by privilege set.
    static func describe(_ privileges: [QualifiedName: Set<Privilege>]) -> String {
        var bySet: [[Privilege]: [QualifiedName]] = [:]
        for (table, set) in privileges { bySet[set.sorted(), default: []].append(table) }
        return bySet.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { set in
            set.map(\.sql).joined(separator: ", ") + " on " + bySet[set]!.sorted().map(\.description).joined(separator: ", ")
        }.joined(separator: "; ")
    }
}
