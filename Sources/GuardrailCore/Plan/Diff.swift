/// Computes the changes that turn observed state into desired state. Pure: no I/O, no clock.
public enum Diff {
    /// Changes for one kind, in apply order: deletes, then replaces, updates and creates, each sorted by name.
    ///
    /// An object is matched by name. A change to an attribute the kind marks immutable makes a `replace`.
    public static func changes<R: Resource>(desired: [R], observed: [R]) -> [Change] {
        // Live objects by name, as positions: a map of 100,000 names to whole objects (or a second
        // set of the desired names) was the largest thing a no-change plan held after the objects.
        var observedByName: [String: Int32] = [:]
        observedByName.reserveCapacity(observed.count)
        for (index, object) in observed.enumerated() { observedByName[object.name] = Int32(index) }
        var matched = [Bool](repeating: false, count: observed.count)

        var deletes: [Change] = []
        var replaces: [Change] = []
        var updates: [Change] = []
        var creates: [Change] = []

        for object in desired {
            guard let index = observedByName[object.name].map(Int.init) else {
                creates.append(Change(address: object.address, kind: R.kind, action: .create, before: nil, desired: object, because: .notLive))
                continue
            }
            matched[index] = true
            let live = observed[index]
            if live == object { continue }
            let before = live.attributes, after = object.attributes
            guard before != after else { continue }
            let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
            let forcing = changed.filter { R.immutableAttributes.contains($0) }
            if forcing.isEmpty {
                updates.append(
                    Change(
                        address: object.address, kind: R.kind, action: .update, before: before, desired: object,
                        reason: "\(changed.joined(separator: ", ")) differ\(changed.count == 1 ? "s" : "") from the configuration"))
            } else {
                replaces.append(
                    Change(
                        address: object.address, kind: R.kind, action: .replace, before: before, desired: object,
                        hazards: [Hazard(.destroys, "\(forcing.joined(separator: ", ")) cannot change in place: " + R.destroyHazard)],
                        reason: "\(forcing.joined(separator: ", ")) changed, which forces replacement"))
            }
        }
        // By name, so that live objects sharing a name are kept or deleted together.
        for object in observed where !matched[Int(observedByName[object.name]!)] {
            deletes.append(
                Change(
                    address: object.address, kind: R.kind, action: .delete, before: object.attributes, desired: R?.none,
                    hazards: [Hazard(.destroys, R.destroyHazard)], because: .notDeclared))
        }
        let byName: (Change, Change) -> Bool = { $0.address.name < $1.address.name }
        return deletes.sorted(by: byName) + replaces.sorted(by: byName) + updates.sorted(by: byName) + creates.sorted(by: byName)
    }

    /// `objects` as they are once `changes` of their kind are made: deleted ones gone, changed ones as
    /// their changes' `after` side (in place), created ones last in plan order. What an apply wrote,
    /// known without reading it back.
    public static func applying<R: Resource>(_ changes: [Change], to objects: [R]) throws -> [R] {
        var after: [String: R?] = [:]
        var created: [R] = []
        for change in changes where change.kind == R.kind {
            let name = change.address.name
            let object: R
            if let desired = change.desiredObject(as: R.self) {
                object = desired
            } else if let attributes = change.after {
                object = try R(name: name, attributes: attributes)
            } else {
                after[name] = .some(nil)
                continue
            }
            if change.action == .create { created.append(object) } else { after[name] = .some(object) }
        }
        guard !after.isEmpty || !created.isEmpty else { return objects }
        var result: [R] = []
        result.reserveCapacity(objects.count + created.count)
        for object in objects {
            if let replacement = after[object.name] {
                if let replacement { result.append(replacement) }
            } else {
                result.append(object)
            }
        }
        return result + created
    }

    /// Marks deletes that remove every managed object of a kind, or more than half of them, as a mass delete.
    ///
    /// This is what stops an empty or missing folder from wiping a kind: the plan still lists the
    /// deletes, but `apply` refuses them without `--allow-mass-delete`.
    public static func guardMassDeletes(_ changes: [Change], observedCount: [String: Int]) -> [Change] {
        var deletesByKind: [String: Int] = [:]
        for change in changes where change.action == .delete { deletesByKind[change.kind, default: 0] += 1 }
        var flagged: Set<String> = []
        for (kind, deletes) in deletesByKind {
            let managed = observedCount[kind] ?? deletes
            if deletes == managed || deletes * 2 > managed { flagged.insert(kind) }
        }
        guard !flagged.isEmpty else { return changes }
        return changes.map { change in
            guard change.action == .delete, flagged.contains(change.kind) else { return change }
            var copy = change
            let deletes = deletesByKind[change.kind]!, managed = observedCount[change.kind] ?? deletes
            let scope = deletes == managed ? "every one of the \(managed)" : "\(deletes) of the \(managed)"
            copy.hazards.append(
                Hazard(.massDelete, "the plan deletes \(scope) managed \(change.kind) objects; an empty or missing folder looks like this"))
            return copy
        }
    }
}
