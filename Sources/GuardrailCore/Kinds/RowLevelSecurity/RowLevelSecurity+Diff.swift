extension RowLevelSecurity {
    /// The changes that make each table's row-level security match the configuration, in apply order.
    ///
    /// Tables are visited in name order. Within a table the order is the safe one: a change that
    /// disables RLS (or removes FORCE) comes before the policies are dropped, so a table is never left
    /// enabled with its last policy gone; policies are created before a change that enables RLS, so a
    /// table is never enabled without them. Apply runs the changes in exactly this order.
    ///
    /// Desired expressions must already be in the server's canonical form (see the engine's
    /// canonicalizer); they are compared as text.
    public static func changes(desired: [RowLevelSecurity], live: CatalogState) -> [Change] {
        let desiredByTable = Dictionary(desired.map { ($0.table, $0) }, uniquingKeysWith: { a, _ in a })
        var tables = Set(desiredByTable.keys)
        for table in live.managedTables where live.tables[table] != nil { tables.insert(table) }
        var changes: [Change] = []
        for table in tables.sorted() {
            // A desired table that does not exist is reported by the engine before planning.
            guard let observed = live.tables[table] else { continue }
            changes += Self.changes(desired: desiredByTable[table], live: observed)
        }
        return changes
    }

    /// One table's changes: the table-level change (if any) placed before or after the policy changes.
    static func changes(desired: RowLevelSecurity?, live: RowLevelSecurity) -> [Change] {
        let table = live.table
        let target = desired ?? RowLevelSecurity(table: table, enabled: false, forced: false)
        var replaces: [Change] = [], creates: [Change] = [], updates: [Change] = [], deletes: [Change] = []

        for policy in target.policies {
            guard let current = live.policy(named: policy.name) else {
                creates.append(createChange(policy, on: table))
                continue
            }
            if current.command != policy.command || current.mode != policy.mode
                || (current.using != nil && policy.using == nil) || (current.withCheck != nil && policy.withCheck == nil)
            {
                replaces.append(replaceChange(from: current, to: policy, on: table))
            } else if current != policy {
                updates.append(updateChange(from: current, to: policy, on: table))
            }
        }
        for policy in live.policies where target.policy(named: policy.name) == nil {
            deletes.append(deleteChange(policy, on: table, tableReleased: desired == nil))
        }

        let policyChanges = replaces + creates + updates + deletes
        guard let tableChange = tableChange(desired: desired, live: live) else { return policyChanges }
        let turnsOff = desired == nil || (live.enabled && !target.enabled) || (live.enabled == target.enabled && live.forced && !target.forced)
        return turnsOff ? [tableChange] + policyChanges : policyChanges + [tableChange]
    }

    /// The table-level change; a deleted manifest of a managed table is a delete that turns both flags off.
    private static func tableChange(desired: RowLevelSecurity?, live: RowLevelSecurity) -> Change? {
        let target = desired ?? RowLevelSecurity(table: live.table, enabled: false, forced: false)
        guard desired == nil || target.enabled != live.enabled || target.forced != live.forced else { return nil }
        var hazards: [Hazard] = []
        var what: [String] = []
        if !live.enabled, target.enabled {
            what.append("enables row-level security")
            hazards.append(
                Hazard(
                    .mayBreakQueries,
                    "enabling row-level security on \(live.table) hides every row that no permissive policy admits, for every role but its owner and BYPASSRLS roles"
                ))
        }
        if live.enabled, !target.enabled {
            what.append("disables row-level security")
            hazards.append(Hazard(.destroys, "disables row-level security on \(live.table): its policies stop applying"))
            hazards.append(Hazard(.widensAccess, "every role with privileges on \(live.table) sees and writes all of its rows"))
        }
        if !live.forced, target.forced {
            what.append("forces it on the owner")
            hazards.append(Hazard(.mayBreakQueries, "FORCE ROW LEVEL SECURITY makes the owner of \(live.table) subject to its policies"))
        }
        if live.forced, !target.forced {
            what.append("stops forcing it on the owner")
            // Lifting RLS altogether already says the owner is unrestricted.
            if target.enabled || !live.enabled {
                hazards.append(Hazard(.widensAccess, "NO FORCE ROW LEVEL SECURITY lets the owner of \(live.table) bypass its policies"))
            }
        }
        guard desired != nil else {
            return Change(
                address: live.address, kind: kind, action: .delete, before: live.attributes, after: nil, hazards: hazards,
                reason:
                    "\(live.address) is managed by Guardrail but no longer in the configuration; its policies are dropped and row-level security is turned off"
            )
        }
        return Change(
            address: live.address, kind: kind, action: .update, before: live.attributes, after: target.attributes, hazards: hazards,
            reason: "\(live.table): " + what.joined(separator: " and "))
    }

    private static func createChange(_ policy: Policy, on table: QualifiedName) -> Change {
        let who = describe(policy.roles)
        let hazard =
            policy.mode == .permissive
            ? Hazard(
                .widensAccess, "adds a permissive policy: \(who) \(agree(who, "gains", "gain")) \(describe(policy.command)) on the rows it admits")
            : Hazard(.mayBreakQueries, "adds a restrictive policy: \(describe(policy.command)) by \(who) must also pass it")
        return Change(
            address: address(table, policy: policy.name), kind: policyKind, action: .create, before: nil,
            after: policy.attributes(on: table), hazards: [hazard],
            reason: "\(address(table, policy: policy.name)) is in the configuration but does not exist live")
    }

    private static func deleteChange(_ policy: Policy, on table: QualifiedName, tableReleased: Bool) -> Change {
        let address = address(table, policy: policy.name)
        var hazards = [Hazard(.destroys, "drops policy \(AttributeValue.quote(policy.name)) from \(table)")]
        hazards.append(
            policy.mode == .permissive
                ? Hazard(
                    .mayBreakQueries,
                    "\(describe(policy.roles)) \(agree(describe(policy.roles), "loses", "lose")) the rows only this permissive policy admitted")
                : Hazard(.widensAccess, "removes a restriction on \(describe(policy.command)) by \(describe(policy.roles))"))
        let reason =
            tableReleased
            ? "\(table) is no longer in the configuration"
            : "\(address) exists live but is not in the configuration"
        return Change(
            address: address, kind: policyKind, action: .delete, before: policy.attributes(on: table), after: nil,
            hazards: hazards, reason: reason)
    }

    private static func replaceChange(from current: Policy, to policy: Policy, on table: QualifiedName) -> Change {
        var hazards: [Hazard] = []
        var why: [String] = []
        if current.command != policy.command {
            why.append("command changes from \(current.command.rawValue) to \(policy.command.rawValue)")
        }
        if current.mode != policy.mode {
            why.append("as changes from \(current.mode.rawValue) to \(policy.mode.rawValue)")
        }
        if current.using != nil, policy.using == nil { why.append("using is removed") }
        if current.withCheck != nil, policy.withCheck == nil { why.append("with_check is removed") }
        // A permissive policy that covers more (commands, roles) widens access; a restrictive one narrows it.
        let widens =
            current.mode == policy.mode
            ? (policy.mode == .permissive ? !covers(current, policy) : !covers(policy, current))
            : current.mode == .restrictive
        let narrows =
            current.mode == policy.mode
            ? (policy.mode == .permissive ? !covers(policy, current) : !covers(current, policy))
            : current.mode == .permissive
        if widens { hazards.append(Hazard(.widensAccess, why.joined(separator: " and ") + ", which lets some queries see or change more rows")) }
        if narrows { hazards.append(Hazard(.mayBreakQueries, why.joined(separator: " and ") + ", which stops some queries that worked")) }
        hazards += expressionHazards(from: current, to: policy)
        return Change(
            address: address(table, policy: policy.name), kind: policyKind, action: .replace,
            before: current.attributes(on: table), after: policy.attributes(on: table), hazards: hazards,
            reason: why.joined(separator: " and ")
                + "; Postgres cannot alter that, so the policy is dropped and created again in the same transaction")
    }

    private static func updateChange(from current: Policy, to policy: Policy, on table: QualifiedName) -> Change {
        var hazards: [Hazard] = []
        var changed: [String] = []
        if current.roles != policy.roles {
            changed.append("roles")
            let (gained, lost) = roleDelta(from: current, to: policy)
            if let gained {
                hazards.append(
                    policy.mode == .permissive
                        ? Hazard(.widensAccess, "\(gained) \(agree(gained, "gains", "gain")) access through this permissive policy")
                        : Hazard(.mayBreakQueries, "\(gained) \(agree(gained, "becomes", "become")) subject to this restrictive policy"))
            }
            if let lost {
                hazards.append(
                    policy.mode == .permissive
                        ? Hazard(.mayBreakQueries, "\(lost) \(agree(lost, "loses", "lose")) access through this permissive policy")
                        : Hazard(.widensAccess, "\(lost) \(agree(lost, "is", "are")) no longer restricted by this policy"))
            }
        }
        if current.using != policy.using { changed.append("using") }
        if current.withCheck != policy.withCheck { changed.append("with_check") }
        hazards += expressionHazards(from: current, to: policy)
        return Change(
            address: address(table, policy: policy.name), kind: policyKind, action: .update,
            before: current.attributes(on: table), after: policy.attributes(on: table), hazards: hazards,
            reason: "\(changed.joined(separator: ", ")) differ\(changed.count == 1 ? "s" : "") from the configuration; changed with ALTER POLICY")
    }

    /// An expression change can widen or narrow what a policy admits; Guardrail cannot tell which, so it says so.
    private static func expressionHazards(from current: Policy, to policy: Policy) -> [Hazard] {
        var changed: [String] = []
        if current.using != policy.using {
            changed.append(current.using == nil ? "USING is added" : policy.using == nil ? "USING is removed" : "USING changes")
        }
        if current.withCheck != policy.withCheck {
            changed.append(
                current.withCheck == nil
                    ? "WITH CHECK is added (new rows were checked with USING)"
                    : policy.withCheck == nil ? "WITH CHECK is removed (new rows will be checked with USING)" : "WITH CHECK changes")
        }
        guard !changed.isEmpty else { return [] }
        let what = changed.joined(separator: " and ")
        return [
            Hazard(.widensAccess, "\(what); review whether it admits rows it did not before"),
            Hazard(.mayBreakQueries, "\(what); review whether it rejects rows it admitted before"),
        ]
    }

    /// Who a role change adds and removes, in words; nil when nobody.
    private static func roleDelta(from current: Policy, to policy: Policy) -> (gained: String?, lost: String?) {
        switch (current.appliesToEveryone, policy.appliesToEveryone) {
        case (false, true): return ("every role", nil)
        case (true, false): return (nil, "roles other than \(policy.roles.joined(separator: ", "))")
        case (true, true): return (nil, nil)
        case (false, false):
            let added = policy.roles.filter { !current.roles.contains($0) }
            let removed = current.roles.filter { !policy.roles.contains($0) }
            return (added.isEmpty ? nil : added.joined(separator: ", "), removed.isEmpty ? nil : removed.joined(separator: ", "))
        }
    }

    /// Whether policy `a` applies to every (command, role) pair that `b` applies to.
    private static func covers(_ a: Policy, _ b: Policy) -> Bool {
        let commands = a.command == .all || a.command == b.command
        let roles = a.appliesToEveryone || (!b.appliesToEveryone && Set(b.roles).isSubset(of: a.roles))
        return commands && roles
    }

    /// The verb form for a subject such as "viewer", "app_user, viewer" or "every role".
    static func agree(_ subject: String, _ singular: String, _ plural: String) -> String {
        subject.contains(", ") || subject.hasPrefix("roles ") ? plural : singular
    }

    static func describe(_ roles: [String]) -> String {
        roles == [Policy.publicRole] ? "every role" : roles.joined(separator: ", ")
    }

    static func describe(_ command: Command) -> String {
        command == .all ? "every command" : command.rawValue.uppercased()
    }
}
