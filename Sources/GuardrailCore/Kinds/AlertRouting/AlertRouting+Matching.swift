import Foundation

/// Which receivers an alert reaches: Alertmanager's route walk, computed from the manifest. Pure.
extension RoutingRoute {
    /// The routes that take an alert with these labels, in order. A route whose matchers pass tries
    /// its children in order; a child that takes the alert stops the search unless it sets
    /// `continue`. When no child takes it, the route itself does.
    public func matchingRoutes(_ labels: [String: String]) -> [RoutingRoute] {
        guard matchers.allSatisfy({ $0.matches(labels) }) else { return [] }
        var taken: [RoutingRoute] = []
        for child in routes {
            var inherited = child
            // A child without its own receiver uses its parent's, as Alertmanager fills it in.
            if inherited.receiver == nil { inherited.receiver = receiver }
            let hits = inherited.matchingRoutes(labels)
            taken += hits
            if !hits.isEmpty, !child.continueMatching { break }
        }
        return taken.isEmpty ? [self] : taken
    }
}

extension AlertRouting {
    /// The receivers an alert with these labels is sent to, in route order (the `amtool config routes test` answer).
    public func receivers(for labels: [String: String]) -> [String] {
        var seen: [String] = []
        for route in route.matchingRoutes(labels) {
            if let name = route.receiver, !seen.contains(name) { seen.append(name) }
        }
        return seen
    }

    /// Parses `severity=critical,team=ops` as `verify routing --labels` takes it.
    public static func parseLabels(_ text: String) -> Result<[String: String], GuardrailDuration.Problem> {
        var labels: [String: String] = [:]
        for pair in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let eq = pair.firstIndex(of: "=") else {
                return .failure(
                    .init(
                        message: "\"\(pair)\" has no '='; write labels as name=value pairs separated by commas, such as severity=critical,team=ops."))
            }
            let name = pair[..<eq].trimmingCharacters(in: .whitespaces), value = String(pair[pair.index(after: eq)...])
            if let problem = PrometheusNames.labelNameProblem(name) { return .failure(.init(message: "\"\(name)\": \(problem)")) }
            if labels[name] != nil { return .failure(.init(message: "The label \(name) is given twice.")) }
            labels[name] = value
        }
        return .success(labels)
    }
}
