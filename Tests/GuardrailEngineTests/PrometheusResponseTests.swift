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
        #expect(read(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"0.0125"]}]}}"#) == .value(0.0125))
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
        let several = read(#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}"#)
        guard case .error(let m1) = several, m1.contains("2 series") else { Issue.record("several: \(several)"); return }
        guard case .error = read(#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#) else { Issue.record("matrix"); return }
        let bad = read(#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#, status: 400)
        guard case .error(let m2) = bad, m2.contains("bad_data"), m2.contains("parse error") else { Issue.record("bad: \(bad)"); return }
        guard case .error = read("<html>bad gateway</html>", status: 502) else { Issue.record("html"); return }
    }

    @Test("the form body escapes everything PromQL regexes contain")
    func formEncoding() {
        #expect(PrometheusClient.formEncode(#"sum(x{a=~"b|c"}) + 1"#) == "sum%28x%7Ba%3D~%22b%7Cc%22%7D%29%20%2B%201")
        #expect(PrometheusClient.formEncode("ü") == "%C3%BC")
    }
}
