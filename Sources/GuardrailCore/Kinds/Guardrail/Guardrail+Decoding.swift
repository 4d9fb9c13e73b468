import Foundation

extension Guardrail {
    /// Decodes a Guardrail's spec; problems go to the reader's diagnostics and yield nil.
    static func decode(metadata: ObjectMetadata, spec: FieldReader) -> Guardrail? {
        let reader = spec.reader
        var ok = true
        if let problem = NameRules.dnsLabel(metadata.name) {
            reader.error("invalid Guardrail name \"\(metadata.name)\"", detail: problem, at: metadata.nameMark)
            ok = false
        }
        let description = spec.has("description") ? spec.string("description") : ""
        let query = spec.string("query", required: true)
        if let query, let node = spec.node("query") {
            ok = checkQuery(query, what: "Guardrail spec.query", at: node.mark, reader: reader) && ok
        }

        let present = ["max", "min", "compare"].filter { spec.has($0) }
        var condition: Condition?
        if present.isEmpty {
            reader.error(
                "Guardrail \"\(metadata.name)\" has no threshold",
                detail: "Give exactly one of max:, min: or compare: {baseline: control, maxRatio: 1.5}.", at: spec.mark)
            ok = false
        } else if present.count > 1 {
            let extra = present[1]
            reader.error(
                "Guardrail \"\(metadata.name)\" has both \(present[0]) and \(extra)",
                detail: "Give exactly one of max:, min: or compare:; a guardrail tests one condition.", at: spec.keyMark(extra)!)
            ok = false
        } else if present[0] == "max" {
            condition = spec.number("max").map(Condition.max)
        } else if present[0] == "min" {
            condition = spec.number("min").map(Condition.min)
        } else if let c = spec.fields("compare", allowed: compareShape.keys) {
            if c.has("baseline"), let baseline = c.string("baseline"), baseline != "control" {
                reader.error(
                    "compare.baseline has an unknown value \"\(baseline)\"",
                    detail: "The only baseline is control: the eligible tenants not yet in the cohort.",
                    at: c.node("baseline")!.mark)
                ok = false
            }
            if let ratio = c.number("maxRatio", required: true) {
                if ratio <= 0 {
                    reader.error(
                        "compare.maxRatio must be positive",
                        detail: "Found \(AttributeValue.double(ratio)); 1.5 means the cohort may be at most 1.5 times the control.",
                        at: c.node("maxRatio")!.mark)
                    ok = false
                } else {
                    condition = .compareToControl(maxRatio: ratio)
                }
            }
            if let query, !QueryTemplate.placeholders(in: query).contains("cohort") {
                reader.error(
                    "a compare guardrail's query must use {{cohort}}",
                    detail:
                        "The control value is the same query with {{cohort}} replaced by the control tenants, so the query has to select by {{cohort}}.",
                    at: spec.node("query")!.mark)
                ok = false
            }
        }
        if present.count == 1, condition == nil { ok = false }

        var interval = GuardrailDuration.seconds(60)
        if spec.has("interval") {
            if let d = spec.duration("interval") {
                if d.milliseconds < 1000 {
                    reader.error(
                        "Guardrail spec.interval is too short", detail: "Evaluate at most once a second; found \(d).", at: spec.node("interval")!.mark
                    )
                    ok = false
                }
                interval = d
            } else {
                ok = false
            }
        }
        let failures = spec.has("failures") ? spec.int("failures", range: 1...1000) : 1
        let errorLimit = spec.has("errorLimit") ? spec.int("errorLimit", range: 1...1000) : 3
        var minSamples: MinSamples?
        if spec.has("minSamples") {
            if let m = spec.fields("minSamples", allowed: minSamplesShape.keys),
                let q = m.string("query", required: true), let min = m.number("min", required: true)
            {
                ok = checkQuery(q, what: "minSamples.query", at: m.node("query")!.mark, reader: reader) && ok
                if min < 0 {
                    reader.error("minSamples.min must not be negative", detail: "Found \(AttributeValue.double(min)).", at: m.node("min")!.mark)
                    ok = false
                }
                minSamples = MinSamples(query: q, min: min)
            } else {
                ok = false
            }
        }
        let onNoData = spec.has("onNoData") ? spec.oneOf("onNoData", as: Reaction.self) : .hold
        let onError = spec.has("onError") ? spec.oneOf("onError", as: Reaction.self) : .hold
        guard ok, let description, let query, let condition, let failures, let errorLimit, let onNoData, let onError else { return nil }
        if !QueryTemplate.placeholders(in: query).contains("cohort") {
            reader.diagnostics.warning(
                "Guardrail \"\(metadata.name)\" does not use {{cohort}}",
                detail: "Without {{cohort}} the query measures every tenant, so it cannot tell the rollout's cohort from the rest.",
                at: reader.location(spec.node("query")!.mark))
        }
        return Guardrail(
            name: metadata.name, description: description, query: query, condition: condition, interval: interval,
            failures: failures, minSamples: minSamples, onNoData: onNoData, onError: onError, errorLimit: errorLimit)
    }

    private static func checkQuery(_ query: String, what: String, at mark: YAMLMark, reader: NodeReader) -> Bool {
        var ok = true
        if query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            reader.error("\(what) is empty", detail: "Write a PromQL expression that returns one number.", at: mark)
            return false
        }
        for problem in QueryTemplate.unknownPlaceholders(in: query) {
            var detail = problem.suggestion.map { "Did you mean {{\($0)}}? " } ?? ""
            detail += "Queries may use {{cohort}} and {{control}}."
            reader.error("unknown placeholder {{\(problem.placeholder)}} in \(what)", detail: detail, at: mark)
            ok = false
        }
        if ok, let problem = PromQLSyntax.check(PromQLSyntax.withSampleTemplates(query)) {
            reader.error(
                "\(what) is not valid PromQL", detail: "\(problem). Prometheus would refuse it, so the guardrail could never be evaluated.", at: mark)
            ok = false
        }
        return ok
    }
}
