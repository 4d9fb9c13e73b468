import Foundation
import GuardrailCore
@testable import GuardrailEngine
import Testing

/// How Prometheus API answers are read, without a server (the documented response shapes).
@Suite("Prometheus responses")
struct PrometheusResponseTests {
    func read(_ json: String, status: UInt = 200) -> MetricOutcome {
        PrometheusClient.interpret(status: status, body: Data(json.utf8))
    }

    @Test("one sample is the value; a scalar is the value")
    func values() {
        #expect(
            read(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"0.0125"]}]}}"#) == .value(0.0125))
        #expect(read(#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"3"]}}"#) == .value(3))
        #expect(read(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}"#) == .value(.infinity))
    }

    @Test("an empty vector and NaN are no data, never 0")
    func noData() {
        guard case .noData = read(#"{"status":"success","data":{"resultType":"vector","result":[]}}"#) else { Issue.record("empty vector"); return }
        guard case .noData = read(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#) else {
            Issue.record("NaN"); return
        }
    }

    @Test("several series, a matrix, an API error and a non-JSON body are errors")
    func errors() {
        let several = read(
            #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}"#
        )
        guard case .error(let m1) = several, m1.contains("2 series") else { Issue.record("several: \(several)"); return }
        guard case .error = read(#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#) else { Issue.record("matrix"); return }
        let bad = read(#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#, status: 400)
        guard case .error(let m2) = bad, m2.contains("bad_data"), m2.contains("parse error") else { Issue.record("bad: \(bad)"); return }
        guard case .error = read("<html>bad gateway</html>", status: 502) else { Issue.record("html"); return }
    }

    @Test("malformed answers name what is wrong with them")
    func malformed() {
        func message(_ json: String) -> String {
            if case .error(let m) = read(json) { return m }
            return "not an error: \(read(json))"
        }
        #expect(message(#"[{"status":"success"}]"#).contains("not JSON"))
        #expect(message(#"{"status":"error"}"#).hasSuffix("(HTTP 200, error): no message"))
        #expect(message(#"{"status":"success"}"#) == "Prometheus answered without data")
        #expect(message(#"{"status":"success","data":"x"}"#) == "Prometheus answered without data")
        #expect(message(#"{"status":"success","data":{"resultType":"vector","result":{"metric":{}}}}"#) == "Prometheus answered a malformed vector")
        #expect(
            message(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}"#)
                == "Prometheus answered a malformed sample")
        #expect(
            message(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}"#)
                == "Prometheus answered a malformed sample")
        #expect(
            message(#"{"status":"success","data":{"resultType":"scalar","result":[1,"many"]}}"#)
                == "Prometheus answered a sample that is not a number: many")
        #expect(message(#"{"status":"success","data":{"resultType":"string","result":[1,"x"]}}"#).contains("returned a string"))
        // Series labels of any shape are skipped, and so is whatever stands for the timestamp.
        #expect(
            read(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1","b":[null,{}]},"value":["t","-Inf"]}]}}"#)
                == .value(-.infinity))
    }

    @Test("GET /api/v1/rules: groups and rules as documented; fields of another shape read as empty; a broken answer is refused")
    func loadedRules() throws {
        let body = #"""
            {"status":"success","data":{"groups":[
              {"name":"api","file":"/rules/guardrail-billing.yml","interval":30,"limit":0,"evaluationTime":0.001,"rules":[
                {"state":"inactive","name":"HighErrorRate","query":"rate(errors[5m]) > 0.1","duration":300,"keepFiringFor":60,
                 "labels":{"severity":"page"},"annotations":{"summary":"errors"},"alerts":[],"health":"ok","lastError":"","type":"alerting"},
                {"name":"job:errors:rate5m","query":"sum(rate(errors[5m]))","labels":null,"health":"err","lastError":"boom","type":"recording"}
              ]},
              {"name":"empty","file":"/rules/x.yml","interval":"soon","rules":null}
            ]}}
            """#
        let groups = try LoadedRuleGroup.parse(Data(body.utf8))
        #expect(groups.map(\.name) == ["api", "empty"])
        #expect(groups[0].interval == 30 && groups[0].file == "/rules/guardrail-billing.yml")
        #expect(
            groups[0].rules[0]
                == LoadedRuleGroup.Rule(
                    name: "HighErrorRate", type: "alerting", query: "rate(errors[5m]) > 0.1", duration: 300,
                    keepFiringFor: 60, labels: ["severity": "page"], annotations: ["summary": "errors"],
                    health: "ok", lastError: nil))
        #expect(groups[0].rules[1].labels == [:] && groups[0].rules[1].lastError == "boom" && groups[0].rules[1].type == "recording")
        #expect(groups[1].interval == 0 && groups[1].rules.isEmpty)
        for broken in [#"{"status":"success","data":{"groups":[1]}}"#, #"{"status":"error","error":"x"}"#, "not json", #"{"status":"success"}"#] {
            #expect(throws: PrometheusAdminError.self, "\(broken)") { try LoadedRuleGroup.parse(Data(broken.utf8)) }
        }
    }

    @Test("the form body escapes everything PromQL regexes contain")
    func formEncoding() {
        #expect(PrometheusClient.formEncode(#"sum(x{a=~"b|c"}) + 1"#) == "sum%28x%7Ba%3D~%22b%7Cc%22%7D%29%20%2B%201")
        #expect(PrometheusClient.formEncode("ü") == "%C3%BC")
    }
}
