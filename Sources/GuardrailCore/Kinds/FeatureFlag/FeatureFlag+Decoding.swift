extension FeatureFlag {
    static let overrideKeys = overridesShape.keys
    static let rolloutKeys = rolloutShape.keys
    static let phaseKeys = phaseShape.keys
    static let phaseTenantKeys = phaseTenantsShape.keys

    /// Decodes a FeatureFlag's spec; problems go to the reader's diagnostics and yield nil. Tenant and
    /// guardrail names are appended to `references` and checked once every file is loaded.
    static func decode(metadata: ObjectMetadata, spec: FieldReader, references: inout [ManifestReference]) -> FeatureFlag? {
        let reader = spec.reader
        var ok = true
        let address = "flag.\(metadata.name)"
        if let problem = NameRules.dottedName(metadata.name) {
            reader.error(
                "invalid FeatureFlag name \"\(metadata.name)\"", detail: problem + " Flag names look like channel.email.", at: metadata.nameMark)
            ok = false
        }
        let description = spec.has("description") ? spec.string("description") : ""
        let enabled = spec.bool("enabled", required: true)
        var salt: String? = metadata.name
        if spec.has("salt") {
            salt = spec.string("salt")
            if salt?.isEmpty == true {
                reader.error(
                    "FeatureFlag spec.salt is empty", detail: "Leave it out to use the flag's name, or give a non-empty string.",
                    at: spec.node("salt")!.mark)
                salt = nil
            }
        }

        var overrides = Overrides()
        if let o = spec.fields("overrides", allowed: overrideKeys) {
            var seen: [String: (list: String, mark: YAMLMark)] = [:]
            var lists: [String: [String]] = [:]
            for key in overrideKeys {
                guard let items = o.stringList(key) else { continue }
                for item in items {
                    if let first = seen[item.value] {
                        let detail =
                            first.list == key
                            ? "It is already listed at line \(first.mark.line), column \(first.mark.column)."
                            : "It is also in overrides.\(first.list) at line \(first.mark.line), column \(first.mark.column); a tenant is either forced on or forced off."
                        reader.error("tenant \"\(item.value)\" is listed twice in overrides", detail: detail, at: item.mark)
                        ok = false
                        continue
                    }
                    seen[item.value] = (key, item.mark)
                    lists[key, default: []].append(item.value)
                    references.append(
                        ManifestReference(
                            target: "tenant", name: item.value, location: reader.location(item.mark),
                            context: "\(address) overrides.\(key)"))
                }
            }
            overrides = Overrides(enable: lists["enable"] ?? [], disable: lists["disable"] ?? [])
            // A forced-on tenant of a flag that is off for everyone is on for nobody: the override does nothing.
            if enabled == false, let first = o.node("enable"), !(lists["enable"] ?? []).isEmpty {
                reader.diagnostics.warning(
                    "overrides.enable has no effect while enabled is false",
                    detail: "A flag with enabled: false is off for every tenant, overrides included. To turn it on for these "
                        + "tenants first, set enabled: true with a rollout whose first phase names them, or set enabled: true.",
                    at: reader.location(first.mark))
            }
        } else if spec.has("overrides") {
            ok = false
        }

        var rollout: Rollout?
        if spec.has("rollout") {
            rollout = decodeRollout(spec, address: address, references: &references)
            if rollout == nil { ok = false }
        }
        guard ok, let description, let enabled, let salt else { return nil }
        return FeatureFlag(name: metadata.name, description: description, enabled: enabled, salt: salt, overrides: overrides, rollout: rollout)
    }

    private static func decodeRollout(_ spec: FieldReader, address: String, references: inout [ManifestReference]) -> Rollout? {
        let reader = spec.reader
        guard let r = spec.fields("rollout", allowed: rolloutKeys) else { return nil }
        var ok = true
        var phases: [RolloutPhase] = []
        if let node = r.required("phases") {
            if case .sequence(let sequence) = node {
                if sequence.items.isEmpty {
                    reader.error(
                        "rollout.phases is empty", detail: "Give at least one phase, or remove `rollout:` to turn the flag on for everyone at once.",
                        at: node.mark)
                    ok = false
                }
                var names: [String: YAMLMark] = [:]
                var highest: (percent: Int, phase: String, mark: YAMLMark)?
                for (index, item) in sequence.items.enumerated() {
                    guard let p = reader.fields(item, "rollout.phases[\(index)]", allowed: phaseKeys) else { ok = false; continue }
                    let phase = decodePhase(p, index: index, address: address, references: &references)
                    // Checked from the raw value, so a phase with another problem still takes part.
                    if let node = p.node("percent"), case .scalar(let scalar) = node, case .int(let percent) = scalar.resolved {
                        let label = phase?.name ?? "\(percent)%"
                        if let highest, percent < highest.percent {
                            reader.error(
                                "phase \"\(label)\" lowers the percent from \(highest.percent) to \(percent)",
                                detail:
                                    "Percents must not decrease from phase to phase (phase \"\(highest.phase)\" at line \(highest.mark.line) has \(highest.percent)); a rollout only ever adds tenants.",
                                at: node.mark)
                            ok = false
                        } else {
                            highest = (percent, label, node.mark)
                        }
                    }
                    guard let phase else { ok = false; continue }
                    let nameMark = p.node("name")?.mark ?? p.mark
                    if let first = names[phase.name] {
                        reader.error(
                            "duplicate phase name \"\(phase.name)\" in rollout.phases",
                            detail: "It is already used at line \(first.line), column \(first.column); name each phase once.", at: nameMark)
                        ok = false
                    }
                    names[phase.name] = nameMark
                    phases.append(phase)
                }
            } else {
                reader.error(
                    "rollout.phases must be a list", detail: "Found \(node.kindDescription); write one `- {percent: 5, bake: 48h}` item per phase.",
                    at: node.mark)
                ok = false
            }
        } else {
            ok = false
        }
        var guardrails: [String] = []
        if let items = r.stringList("guardrails") {
            var seen: [String: YAMLMark] = [:]
            for item in items {
                if let first = seen[item.value] {
                    reader.error(
                        "guardrail \"\(item.value)\" is listed twice in rollout.guardrails",
                        detail: "It is already listed at line \(first.line), column \(first.column).", at: item.mark)
                    ok = false
                    continue
                }
                seen[item.value] = item.mark
                guardrails.append(item.value)
                references.append(
                    ManifestReference(
                        target: "guardrail", name: item.value, location: reader.location(item.mark),
                        context: "\(address) rollout.guardrails"))
            }
        } else if r.has("guardrails") {
            ok = false
        }
        var onBreach = Rollout.BreachAction.rollback
        if r.has("onBreach") {
            if let value = r.oneOf("onBreach", as: Rollout.BreachAction.self) { onBreach = value } else { ok = false }
        }
        return ok ? Rollout(phases: phases, guardrails: guardrails, onBreach: onBreach) : nil
    }

    private static func decodePhase(_ p: FieldReader, index: Int, address: String, references: inout [ManifestReference]) -> RolloutPhase? {
        let reader = p.reader
        var ok = true
        var tenants: [String] = []
        var selector: [String: String] = [:]
        if let node = p.node("tenants") {
            func addNames(_ items: [(value: String, mark: YAMLMark)]) {
                for item in items {
                    tenants.append(item.value)
                    references.append(
                        ManifestReference(
                            target: "tenant", name: item.value, location: reader.location(item.mark),
                            context: "\(address) rollout.phases[\(index)].tenants"))
                }
            }
            switch node {
            case .sequence:
                if let items = reader.stringList(node, "rollout.phases[\(index)].tenants") { addNames(items) } else { ok = false }
            default:
                guard let t = reader.fields(node, "rollout.phases[\(index)].tenants", allowed: phaseTenantKeys) else { ok = false; break }
                if let items = t.stringList("names") { addNames(items) } else if t.has("names") { ok = false }
                if let s = t.node("selector") {
                    if let map = reader.stringMap(
                        s, "rollout.phases[\(index)].tenants.selector", validateKey: NameRules.labelKey, validateValue: NameRules.labelValue)
                    {
                        selector = map
                        if map.isEmpty {
                            reader.error(
                                "empty selector in rollout.phases[\(index)].tenants",
                                detail: "An empty selector selects nobody; give labels such as {cohort: internal}.", at: s.mark)
                            ok = false
                        }
                    } else {
                        ok = false
                    }
                }
            }
        }
        var percent: Int?
        if p.has("percent") {
            percent = p.int("percent", range: 0...100)
            if percent == nil { ok = false }
        }
        if !p.has("percent"), tenants.isEmpty, selector.isEmpty, ok {
            reader.error(
                "rollout.phases[\(index)] selects no tenants", detail: "Give it `percent:`, `tenants:` (names or a selector), or both.", at: p.mark)
            ok = false
        }
        var bake = GuardrailDuration(milliseconds: 0)
        if p.has("bake") {
            if let d = p.duration("bake") { bake = d } else { ok = false }
        }
        var name = percent.map { "\($0)%" } ?? "phase-\(index + 1)"
        if p.has("name") {
            if let n = p.string("name"), !n.isEmpty {
                name = n
            } else {
                if p.string("name")?.isEmpty == true {
                    reader.error(
                        "rollout.phases[\(index)].name is empty", detail: "Leave it out to name the phase after its percent.",
                        at: p.node("name")!.mark)
                }
                ok = false
            }
        }
        return ok ? RolloutPhase(name: name, tenants: tenants, selector: selector, percent: percent, bake: bake) : nil
    }
}
