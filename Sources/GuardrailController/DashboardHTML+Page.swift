import Crypto
import Foundation

extension DashboardHTML {
    /// The only script on the pages: reload every five seconds while the box is ticked and the tab
    /// is visible (the choice is remembered). Served under a Content-Security-Policy that allows
    /// exactly this script by its hash, so nothing else could run even if some text escaped escaping.
    static let refreshScript = """
        (function(){var b=document.getElementById('auto');if(!b)return;try{b.checked=localStorage.getItem('guardrail-refresh')!=='off'}catch(e){}\
        b.addEventListener('change',function(){try{localStorage.setItem('guardrail-refresh',b.checked?'on':'off')}catch(e){}});\
        setInterval(function(){if(b.checked&&!document.hidden)location.reload()},5000)})();
        """

    static let contentSecurityPolicy: String = {
        let hash = Data(SHA256.hash(data: Array(refreshScript.utf8))).base64EncodedString()
        return "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-\(hash)'; img-src data:; base-uri 'none'; "
            + "form-action 'none'; frame-ancestors 'none'"
    }()

    static func page(
        _ page: DashboardPage, environment: String, replica: String, leader: Bool, generatedAt: String, _ body: HTML,
        readAt: String? = nil, readWhat: String = "read from Postgres"
    ) -> String {
        var nav: [HTML] = []
        for p in DashboardPage.allCases {
            nav.append("<a href=\"\(p.path)\"\(HTML(raw: p == page ? " aria-current=\"page\"" : ""))>\(p.title)</a>")
        }
        let now = date(generatedAt)
        let read: HTML = readAt.map { "· \(readWhat) \(ago($0, now))" } ?? ""
        let html: HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
            <title>\(page.title) · \(environment) · Guardrail</title><style>\(HTML(raw: css))</style></head>
            <body><header class="top"><div class="bar"><div class="brand"><span class="logo" aria-hidden="true">◆</span> Guardrail \
            <span class="env">\(environment)</span></div><nav aria-label="Sections">\(nav)</nav>\
            <div class="who">\(leader ? badge("Leader", .ok) : badge("Standby", .idle)) <span>\(replica)</span></div></div></header>
            <main><div class="page-head"><h1>\(page.title)</h1><div class="meta">Generated \
            <time datetime="\(generatedAt)">\(clock(generatedAt)) UTC</time> \(read) · <a href="\(page.twin)">JSON</a> · \
            <label class="refresh"><input type="checkbox" id="auto" checked> auto-refresh</label></div></div>
            \(body)
            </main><script>\(HTML(raw: refreshScript))</script></body></html>

            """
        return html.raw
    }

    static let css = """
        :root{--bg:#f5f6f8;--card:#fff;--ink:#1b1f24;--muted:#5b6470;--line:#dde2e8;--ok:#116329;--ok-bg:#dcf5e3;--ok-line:#8fd4a2;\
        --bad:#b3261e;--bad-bg:#fde8e6;--bad-line:#f2a49c;--warn:#7a4d00;--warn-bg:#fff3c4;--warn-line:#e8c65a;--info:#0b57c2;--info-bg:#e0eeff;\
        --info-line:#93bdf5;--idle:#59626d;--idle-bg:#eef0f3;--idle-line:#cfd5dc}
        *{box-sizing:border-box}
        body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",\
        "Helvetica Neue",Arial,sans-serif;-webkit-font-smoothing:antialiased}
        a{color:var(--info);text-decoration:none}a:hover{text-decoration:underline}
        code,pre,.mono{font-family:ui-monospace,SFMono-Regular,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
        pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;background:var(--idle-bg);padding:8px 10px;border-radius:6px}
        header.top{background:#1f2630;color:#e9edf2}
        header.top .bar{max-width:1200px;margin:0 auto;padding:0 24px;display:flex;align-items:center;gap:28px;min-height:52px;flex-wrap:wrap}
        .brand{font-weight:650;font-size:15px;letter-spacing:.01em;white-space:nowrap}.logo{color:#7fb3ff}
        .env{margin-left:6px;padding:1px 8px;border-radius:6px;background:#35404d;font-weight:600;font-size:12px}
        nav{display:flex;gap:4px;flex:1}
        nav a{color:#c5cdd6;padding:15px 10px 13px;border-bottom:2px solid transparent;font-weight:550}
        nav a:hover{color:#fff;text-decoration:none}nav a[aria-current=page]{color:#fff;border-bottom-color:#7fb3ff}
        .who{display:flex;gap:8px;align-items:center;font-size:12.5px;color:#c5cdd6}
        main{max-width:1200px;margin:0 auto;padding:18px 24px 56px}
        .page-head{display:flex;align-items:baseline;justify-content:space-between;gap:16px;flex-wrap:wrap;margin-bottom:12px}
        h1{font-size:22px;margin:0;font-weight:650}h2{font-size:16px;margin:0;font-weight:650}
        h3{font-size:12px;margin:18px 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em;font-weight:650}
        .meta{color:var(--muted);font-size:12.5px}.refresh{white-space:nowrap;cursor:pointer}.refresh input{vertical-align:-2px}
        .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:0 0 16px;\
        box-shadow:0 1px 2px rgba(27,31,36,.04)}
        .card>header{display:flex;align-items:center;gap:10px;margin-bottom:10px;flex-wrap:wrap}.card>header .more{margin-left:auto;font-size:13px}
        .two{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:0 16px}.two>.card{margin:0 0 16px}
        .facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin-bottom:16px}
        .fact{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 16px}
        .facts.small{margin-bottom:4px}.facts.small .fact{background:#fafbfc}
        .fact .label,.label{color:var(--muted);font-size:11.5px;text-transform:uppercase;letter-spacing:.06em;font-weight:650}
        .fact .value{margin:4px 0 2px;font-size:15px}.fact .detail{color:var(--muted);font-size:12.5px}
        .badge{display:inline-flex;align-items:center;gap:5px;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:650;\
        border:1px solid;white-space:nowrap;line-height:18px}
        .badge.ok{color:var(--ok);background:var(--ok-bg);border-color:var(--ok-line)}
        .badge.bad{color:var(--bad);background:var(--bad-bg);border-color:var(--bad-line)}
        .badge.warn{color:var(--warn);background:var(--warn-bg);border-color:var(--warn-line)}
        .badge.info{color:var(--info);background:var(--info-bg);border-color:var(--info-line)}
        .badge.idle{color:var(--idle);background:var(--idle-bg);border-color:var(--idle-line)}
        table{border-collapse:collapse;width:100%}
        th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
        thead th{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;font-weight:650;border-bottom-width:2px}
        tbody tr:last-child td,tbody tr:last-child th{border-bottom:0}
        .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        .muted{color:var(--muted)}.empty{color:var(--muted);margin:4px 0}.description{color:var(--muted);margin:0 0 8px}
        .reason{margin:0 0 10px}.reason .label{margin-right:6px}
        .why{color:var(--muted);font-size:12.5px;margin-top:2px}.why .label{margin-right:4px}
        .notice{background:var(--idle-bg);border:1px solid var(--idle-line);border-radius:10px;padding:10px 14px;margin-bottom:16px}
        .notice.bad{background:var(--bad-bg);border-color:var(--bad-line)}
        .problem{margin:10px 0 4px}
        .meter{display:inline-block;width:120px;height:8px;border-radius:4px;background:var(--idle-bg);border:1px solid var(--idle-line);\
        overflow:hidden;vertical-align:middle;margin-right:8px}.meter>span{display:block;height:100%;background:var(--info)}
        td.cohort{white-space:nowrap}
        .cohort-line{display:flex;align-items:center;gap:10px;flex-wrap:wrap;margin:2px 0 12px}.cohort-line .meter{width:200px;height:10px}
        .flag>header h2 code{font-size:16px}
        .phases{list-style:none;display:flex;padding:0;margin:0 0 4px;gap:6px;flex-wrap:wrap}
        .phase{flex:1 1 150px;border:1px solid var(--line);border-radius:8px;padding:8px 10px;background:#fafbfc;min-width:150px;position:relative}
        .phase.ok{background:var(--ok-bg);border-color:var(--ok-line)}
        .phase.info{background:var(--info-bg);border-color:var(--info);box-shadow:inset 0 3px 0 var(--info)}
        .phase.warn{background:var(--warn-bg);border-color:var(--warn-line);box-shadow:inset 0 3px 0 var(--warn-line)}
        .phase.bad{background:var(--bad-bg);border-color:var(--bad-line)}
        .phase-head{display:flex;align-items:center;gap:6px}.phase-name{font-weight:650}
        .phase .state{margin-left:auto;font-size:11px;text-transform:uppercase;letter-spacing:.05em;font-weight:700}
        .phase.ok .state,.phase.ok .mark{color:var(--ok)}.phase.info .state,.phase.info .mark{color:var(--info)}
        .phase.warn .state,.phase.warn .mark{color:var(--warn)}.phase.bad .state,.phase.bad .mark{color:var(--bad)}
        .phase.idle .state,.phase.idle .mark{color:var(--idle)}
        .audience{font-size:12.5px;margin-top:2px}.bake{font-size:12px;color:var(--muted);margin-top:2px}
        .phase .meter{width:100%;margin:6px 0 0;height:6px}
        .charts{display:grid;grid-template-columns:1fr;gap:14px}
        figure.guardrail{margin:0;border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:#fcfcfd}
        .g-head{display:flex;align-items:center;gap:8px;flex-wrap:wrap}.g-last{font-size:12.5px;color:var(--muted);margin-top:2px}
        svg.chart{width:100%;height:auto;display:block;margin-top:6px;max-height:260px}
        svg .plot{fill:#fff;stroke:var(--line)}svg .grid{stroke:#eceff3}
        svg .axis{font-size:13px;fill:var(--muted);font-family:inherit}svg .none{font-size:13px;fill:var(--muted)}
        svg .zone{fill:var(--bad-bg);opacity:.55}svg .threshold{stroke:var(--bad);stroke-width:1.5;stroke-dasharray:6 4}
        svg .threshold-label{font-size:13px;fill:var(--bad);font-weight:650}
        svg .values{fill:none;stroke:var(--info);stroke-width:1.8;stroke-linejoin:round}
        svg .m-pass{fill:var(--ok);stroke:#fff;stroke-width:1.5}svg .m-fail{stroke:var(--bad);stroke-width:3;stroke-linecap:round}
        svg .m-nodata{fill:#fff;stroke:var(--idle);stroke-width:2}svg .m-error{fill:#e5a50a;stroke:var(--warn);stroke-width:1}
        svg .event{stroke:var(--idle);stroke-width:1;stroke-dasharray:2 3}svg .event.bad{stroke:var(--bad)}
        svg .event-label{font-size:12.5px;fill:var(--idle);font-weight:650}svg .event-label.bad{fill:var(--bad)}
        .legend{display:flex;gap:14px;font-size:12px;color:var(--muted);flex-wrap:wrap}
        .lg-pass span{color:var(--ok)}.lg-fail span{color:var(--bad)}.lg-error span{color:#c98a00}
        table.decisions td.when{white-space:nowrap;color:var(--muted)}
        table.steps th{font-weight:550;width:190px;white-space:nowrap}table.steps tr.sub th{padding-left:26px;color:var(--muted);font-weight:450}
        td.bar{width:60%}td.bar span{display:block;height:10px;border-radius:3px;background:var(--info);min-width:2px}
        tr.sub td.bar span{background:var(--info-line)}
        ul.errors{list-style:none;padding:0;margin:0}ul.errors li{padding:6px 0;border-bottom:1px solid var(--line)}
        ul.errors li:last-child{border-bottom:0}ul.errors time{color:var(--muted);font-size:12px}
        @media (max-width:1000px){svg .axis,svg .threshold-label,svg .event-label{font-size:17px}}
        @media (max-width:760px){main{padding:14px}.two{grid-template-columns:1fr}header.top .bar{gap:12px}}
        """
}
