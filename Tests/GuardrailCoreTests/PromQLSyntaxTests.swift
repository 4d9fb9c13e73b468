import Testing
@testable import GuardrailCore

/// The offline PromQL check `validate` runs on guardrail queries: it must pass the PromQL people
/// write and refuse what Prometheus would refuse for certain (SQL, unclosed brackets, stray characters).
@Suite("PromQL syntax")
struct PromQLSyntaxTests {
    static let valid = [
        #"sum(rate(email_bounced_total{tenant_id=~"{{cohort}}"}[10m])) / sum(rate(email_sent_total{tenant_id=~"{{cohort}}"}[10m]))"#,
        #"sum(rate(http_requests_total{job="realestate-api", tenant_id=~"{{cohort}}", status=~"5.."}[5m]))"#,
        #"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{tenant_id=~"{{control}}"}[5m])))"#,
        "sum(x) by (job) > bool 0.5",
        "a / on(job) group_left(instance) b",
        "a * ignoring(x) group_right b",
        "count_over_time((count(up == 0))[1h:1m])",
        "rate(x[5m] offset 1h) - rate(x[5m] @ start())",
        "-1 + +2 * 3 ^ 2 % 4",
        "time() - process_start_time_seconds",
        "1e-3 < x and y or z unless w",
        "job:http_requests:rate5m{job!~'a|b'}",
        "max without (instance) (up)",
        "x # a comment\n + y",
        #"{"my.metric", tenant_id=~"{{cohort}}"}"#,
        "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
        "SUM BY (job) (up)",
    ]

    @Test(arguments: valid)
    func acceptsPromQL(_ query: String) {
        let problem = PromQLSyntax.check(PromQLSyntax.withSampleTemplates(query))
        #expect(problem == nil, "\(String(describing: problem))")
    }

    static let invalid: [(String, String, Int)] = [
        ("SELECT * FROM users", #""users" is not expected here"#, 15),
        ("sum(rate(x[5m])", "( is not closed", 4),
        ("sum(rate(x[5m]))))", ") closes nothing", 17),
        ("sum(x]", "] does not match the ( at character 4", 6),
        ("x; DROP TABLE y", #"";" cannot appear in PromQL here"#, 2),
        (#"x{job="a}"#, "the string starting with \" is not closed", 7),
        ("x{job=a}", #"a label matcher is written name="value" (or !=, =~, !~); found "job""#, 3),
        ("x{job=\"a\"", "{ is not closed", 2),
        ("x[5m", "[ is not closed", 2),
        ("x[y]", #"a range is written [5m] or [1h:1m]; found "y""#, 3),
        ("x +", #"the query ends after "+"; an expression must follow it"#, 3),
        ("* x", "* needs an expression before it", 1),
        ("x = 1", "= compares only in label matchers; use == to compare values", 3),
        ("x and", #"the query ends after "and"; an expression must follow it"#, 3),
        ("rate(x[5m],)", "an operator or comma needs an expression after it", 12),
        ("x y", #""y" is not expected here"#, 3),
        ("1 2", #""2" is not expected here"#, 3),
        ("x !y", #""!" cannot appear in PromQL here"#, 3),
        (#"x{tenant_id=~{{cohort}}}"#, #"a label matcher is written name="value" (or !=, =~, !~); found "tenant_id""#, 3),
    ]

    @Test(arguments: invalid.indices)
    func refusesWhatPrometheusWouldRefuse(_ index: Int) throws {
        let (query, message, character) = Self.invalid[index]
        let problem = try #require(PromQLSyntax.check(PromQLSyntax.withSampleTemplates(query)), "\(query) passed")
        #expect(problem.message == message, "\(query)")
        #expect(problem.offset + 1 == character, "\(query)")
    }

    @Test("validate reports a query that is not PromQL at the query's file:line:column, for spec.query and minSamples.query")
    func validateReportsTheQuery() {
        let (configuration, diagnostics) = load(
            "manifests/guardrails.yaml",
            """
            apiVersion: guardrail/v1
            kind: Guardrail
            metadata: {name: sql}
            spec:
              query: SELECT * FROM users WHERE tenant = '{{cohort}}'
              max: 0.02
              minSamples: {query: "sum(rate(x{tenant_id=~\\"{{cohort}}\\"}[5m])", min: 10}

            """)
        #expect(configuration.guardrails.isEmpty)
        #expect(
            diagnostics.map(\.description) == [
                #"manifests/guardrails.yaml:5:10: error: Guardrail spec.query is not valid PromQL"# + "\n  "
                    + #""users" is not expected here (at character 15 of the query). Prometheus would refuse it, so the guardrail could never be evaluated."#,
                #"manifests/guardrails.yaml:7:23: error: minSamples.query is not valid PromQL"# + "\n  "
                    + "( is not closed (at character 4 of the query). Prometheus would refuse it, so the guardrail could never be evaluated.",
            ])
    }
}
