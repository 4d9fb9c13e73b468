import Foundation
import GuardrailCore

/// Where an environment's alert rules live: a Prometheus server's rules directory, or a
/// Mimir/Cortex-compatible ruler. Guardrail manages only its own namespaces there.
public protocol RulesTarget: Sendable {
    /// Every group in the namespaces Guardrail owns, decoded into the configuration's types.
    /// `desired` are the groups the plan compares against: where the server reports a rule in a form
    /// of its own (Prometheus prints loaded expressions its own way), the live rule is told apart
    /// from the desired one in that form, not by spelling.
    func observe(matching desired: [RuleGroup]) async throws -> [RuleGroup]
    /// Makes exactly the plan's rule changes, given the live groups they were checked against, and
    /// confirms them by reading back. On failure it restores what it changed and throws.
    func apply(_ changes: [Change], live: [RuleGroup]) async throws -> RulesApplyReport
    /// For messages: `the rules directory /etc/prometheus/rules.d` or `the ruler at http://mimir`.
    var description: String { get }
}

public struct RulesApplyReport: Sendable {
    /// One line per step, such as "wrote launch.yaml" and "Prometheus loaded 3 groups".
    public var steps: [String]
}

/// An alert apply that failed: what went wrong, and whether the previous rules were put back.
public struct RulesApplyError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var restored: String

    public var description: String { "the alert rules were not applied: \(reason)\n  \(restored)" }
}

/// The state of each namespace after a plan's changes: live groups with every change applied. Pure.
enum RuleNamespaces {
    static func after(_ changes: [Change], live: [RuleGroup]) throws -> (groups: [String: [RuleGroup]], touched: [String]) {
        var byName: [String: RuleGroup] = [:]
        for group in live { byName[group.name] = group }
        var touched: Set<String> = []
        for change in changes where change.kind == RuleGroup.kind {
            if let before = change.before?["namespace"]?.stringValue { touched.insert(before) }
            if let after = change.after {
                let group: RuleGroup
                do {
                    group = try RuleGroup(name: change.address.name, attributes: after)
                } catch {
                    throw DatabaseError.other("the plan's entry for \(change.address) is unreadable: \(error)")
                }
                byName[group.name] = group
                touched.insert(group.namespace)
            } else {
                byName[change.address.name] = nil
            }
        }
        var groups: [String: [RuleGroup]] = [:]
        for group in byName.values { groups[group.namespace, default: []].append(group) }
        for key in groups.keys { groups[key]!.sort { $0.group < $1.group } }
        return (groups, touched.sorted())
    }
}
