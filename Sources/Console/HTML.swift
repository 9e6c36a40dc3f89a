// The console's markup: escaping, the page frame, and the charts (inline SVG drawn on the
// server, so the pages need no script and no outside resource).
import Foundation
import HTMLEscaping

/// Markup written as a template: a string literal is markup, and whatever is interpolated into
/// it is escaped unless it is markup itself (another `HTML`). Text cannot reach a page
/// unescaped by forgetting a call, since a `String` interpolated into `HTML` is always
/// escaped, and there is no interpolation that inserts a `String` as it is.
///
/// ```swift
/// let row: HTML = "<td>\(letter.role)</td><td>\(csrfField(session))</td>"
/// ```
struct HTML: ExpressibleByStringInterpolation, Sendable, Equatable, CustomStringConvertible {
    /// The markup.
    private(set) var description: String

    /// Markup written in the source (a literal without interpolations).
    init(stringLiteral markup: String) { description = markup }

    init(stringInterpolation: Interpolation) { description = stringInterpolation.markup }

    /// Nothing.
    static let empty: HTML = ""

    static func + (a: HTML, b: HTML) -> HTML { HTML(stringLiteral: a.description + b.description) }
    static func += (a: inout HTML, b: HTML) { a.description += b.description }

    /// The pieces of a template literal.
    struct Interpolation: StringInterpolationProtocol {
        var markup = ""

        init(literalCapacity: Int, interpolationCount: Int) { markup.reserveCapacity(literalCapacity * 2) }

        /// The literal parts: markup written in the source.
        mutating func appendLiteral(_ literal: String) { markup += literal }
        /// Markup, as it is.
        mutating func appendInterpolation(_ html: HTML) { markup += html.description }
        /// Text, escaped for element content and quoted attribute values.
        mutating func appendInterpolation(_ text: String) { markup += escaped(text) }
        /// A number.
        mutating func appendInterpolation(_ number: some BinaryInteger) { markup += String(number) }
        /// A query parameter's value, percent-encoded.
        mutating func appendInterpolation(query text: String) { markup += percentEncoded(text) }
    }
}

/// Escapes text for HTML element content and quoted attribute values (``HTMLEscaping``'s
/// escaper, per Unicode scalar).
func escaped(_ text: String) -> String { htmlEscaped(text) }

/// Percent-encodes a query parameter value (letters, digits and `-._~` stay).
func percentEncoded(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
}

enum Page {
    /// A whole page: the navigation (what the role may see), a flash message, the body.
    static func frame(
        title: String, session: ConsoleSession?, active: String = "", refreshSeconds: Int? = nil, body: HTML,
        language: String = "id"
    ) -> HTML {
        var nav: HTML = ""
        if let session {
            let links: [(String, String, String, ConsolePermission)] = [
                ("progress", "/", "Kemajuan", .viewProgress), ("reports", "/laporan", "Laporan", .viewReports),
                ("reviews", "/reviews", "Verifikasi", .viewReviewQueue),
                ("blki", "/blki", "Kelas BLKI", .runBLKIDesk), ("lsp", "/lsp", "Asesmen LSP", .runLSPDesk),
                ("queues", "/queues", "Antrean", .viewOperations),
                ("dead-letters", "/dead-letters", "Pesan gagal", .viewOperations),
                ("audit", "/audit", "Log audit", .viewOperations), ("subjects", "/subjects", "Hak subjek data", .subjectRights),
            ]
            nav = "<nav><span class=\"brand\">Kaltim 2025</span>"
            for (key, path, label, permission) in links where session.role.allows(permission) {
                let current: HTML = key == active ? " class=\"active\"" : .empty
                nav += "<a href=\"\(path)\"\(current)>\(label)</a>"
            }
            nav += """
                <form method="post" action="/logout" class="logout">\
                <input type="hidden" name="csrf" value="\(session.csrfToken)">\
                <span id="whoami" data-role="\(session.role.rawValue)">\(session.user) · \(session.role.label)\
                \(session.centre.map { " · \(IndonesianText.centre($0))" } ?? "")</span> \
                <button type="submit" id="logout">Keluar</button></form></nav>
                """
        }
        // The refresh asks for the page marked as automatic, so that it does not keep an idle
        // session alive (the session ends after 30 minutes without the user's own request).
        let refreshPath = ["progress": "/", "queues": "/queues", "reviews": "/reviews"][active] ?? "/"
        let refresh: HTML =
            refreshSeconds.map { seconds -> HTML in
                "<meta http-equiv=\"refresh\" content=\"\(seconds); url=\(refreshPath)?auto-refresh=1\">"
            } ?? .empty
        return """
            <!doctype html>
            <html lang="\(language)"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">\(refresh)
            <title>\(title) · Konsol Kaltim 2025</title>
            <link rel="stylesheet" href="/static/console.css"></head>
            <body>\(nav)<main><h1>\(title)</h1>
            \(body)
            </main></body></html>
            """
    }

    static func message(_ text: String, kind: String = "info") -> HTML {
        "<p class=\"flash \(kind)\" role=\"status\">\(text)</p>"
    }
}

enum Chart {
    /// The funnel: one horizontal bar per stage, scaled to the first.
    static func funnel(_ stages: [ProgressReport.Stage]) -> HTML {
        let width = 640
        let rowHeight = 34
        let labelWidth = 110
        let maximum = max(1, stages.map(\.count).max() ?? 1)
        var svg: HTML = """
            <svg id="funnel-chart" class="chart" viewBox="0 0 \(width) \(stages.count * rowHeight + 8)" \
            role="img" aria-label="Alur peserta dari pendaftaran sampai pemberitahuan">
            """
        for (index, stage) in stages.enumerated() {
            let y = index * rowHeight + 4
            let barWidth = Int(Double(width - labelWidth - 80) * Double(stage.count) / Double(maximum))
            svg += """
                <text x="0" y="\(y + 21)" class="label">\(stage.label)</text>\
                <rect x="\(labelWidth)" y="\(y)" width="\(max(barWidth, 1))" height="\(rowHeight - 8)" class="bar stage-\(index)"/>\
                <text x="\(labelWidth + max(barWidth, 1) + 6)" y="\(y + 21)" class="value" data-stage="\(stage.key)">\
                \(IndonesianText.number(stage.count))</text>
                """
        }
        return svg + "</svg>"
    }

    /// Progress against targets: per line, a grey bar for the target, a bar for accepted and
    /// one for the done (certified, placed), under a legend. Every bar is scaled to the largest
    /// of the three over all lines, so none leaves the box when accepted exceeds the target, and
    /// the figures stand after the longest bar of their line.
    static func targets(_ lines: [ProgressReport.Line], id: String, acceptedLabel: String, doneLabel: String) -> HTML {
        let width = 640
        let rowHeight = 44
        let labelWidth = 230
        let figuresWidth = 150
        let maximum = max(1, lines.map { max($0.target, $0.accepted, $0.certified) }.max() ?? 1)
        func scale(_ value: Int) -> Int {
            min(
                width - labelWidth - figuresWidth,
                Int(Double(width - labelWidth - figuresWidth) * Double(value) / Double(maximum)))
        }
        var svg: HTML = """
            <figure class="chart-box"><figcaption class="legend" id="\(id)-legend">\
            <span class="swatch target"></span> Target \
            <span class="swatch accepted"></span> \(acceptedLabel) \
            <span class="swatch done"></span> \(doneLabel)</figcaption>
            <svg id="\(id)" class="chart" viewBox="0 0 \(width) \(lines.count * rowHeight + 8)" role="img" \
            aria-label="\(doneLabel) dibanding target">
            """
        for (index, line) in lines.enumerated() {
            let y = index * rowHeight + 4
            let percent = line.target > 0 ? Int((Double(line.certified) / Double(line.target) * 100).rounded()) : 0
            let longest = max(scale(line.target), scale(line.accepted), scale(line.certified), 1)
            svg += """
                <text x="0" y="\(y + 22)" class="label">\(line.label)</text>\
                <rect x="\(labelWidth)" y="\(y)" width="\(max(scale(line.target), 1))" height="34" class="target">\
                <title>Target: \(IndonesianText.number(line.target))</title></rect>\
                <rect x="\(labelWidth)" y="\(y + 4)" width="\(scale(line.accepted))" height="12" class="accepted">\
                <title>\(acceptedLabel): \(IndonesianText.number(line.accepted))</title></rect>\
                <rect x="\(labelWidth)" y="\(y + 18)" width="\(scale(line.certified))" height="12" class="done">\
                <title>\(doneLabel): \(IndonesianText.number(line.certified))</title></rect>\
                <text x="\(labelWidth + longest + 6)" y="\(y + 22)" class="value">\
                \(IndonesianText.number(line.certified)) / \(IndonesianText.number(line.target)) (\(percent) %)</text>
                """
        }
        return svg + "</svg></figure>"
    }
}

/// The console's stylesheet (served as /static/console.css; no inline styles, so the content
/// security policy can forbid them).
enum Assets {
    static let css = """
        :root { --ink: #1d2733; --muted: #5b6876; --line: #d8dee4; --accent: #0b6e4f; --warn: #9a3412; --bg: #f6f8fa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: var(--bg); }
        nav { display: flex; gap: 1rem; align-items: center; padding: .6rem 1.2rem; background: #12343b; }
        nav a, nav .brand, nav span { color: #e8f1f2; text-decoration: none; }
        nav a.active { border-bottom: 2px solid #f2c14e; }
        nav .brand { font-weight: 700; margin-right: 1rem; }
        nav .logout { margin-left: auto; display: flex; gap: .6rem; align-items: center; }
        main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.2rem 3rem; }
        h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; }
        th, td { border: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
        th { background: #eef2f5; } td.tiers { white-space: nowrap; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
        .chart { width: 100%; max-width: 760px; background: #fff; border: 1px solid var(--line); padding: .5rem; display: block; }
        .chart-box { margin: 0; max-width: 760px; } .legend { font-size: 13px; margin: .3rem 0; }
        .swatch { display: inline-block; width: .9rem; height: .9rem; vertical-align: -2px; border: 1px solid var(--line); }
        .swatch.target { background: #e3e8ec; } .swatch.accepted { background: #7fb7a4; } .swatch.done { background: var(--accent); }
        table.audit { table-layout: fixed; } table.audit td { overflow-wrap: anywhere; word-break: break-word; }
        table.audit col.when { width: 11rem; } table.audit col.count { width: 4.5rem; } table.audit col.details { width: 30%; }
        code.name { background: #fff3cd; padding: 0 .2rem; user-select: all; }
        .chart .label, .chart .value { font-size: 13px; fill: var(--ink); }
        .chart .bar { fill: var(--accent); } .chart .target { fill: #e3e8ec; }
        .chart .accepted { fill: #7fb7a4; } .chart .done { fill: var(--accent); }
        .cards { display: flex; flex-wrap: wrap; gap: .8rem; }
        .card { background: #fff; border: 1px solid var(--line); padding: .6rem .9rem; min-width: 9rem; }
        .card b { display: block; font-size: 1.5rem; }
        .flash { padding: .6rem .8rem; border: 1px solid var(--line); background: #fff; }
        .flash.error { border-color: var(--warn); color: var(--warn); }
        .flash.ok { border-color: var(--accent); color: var(--accent); }
        form.inline { display: inline; }
        fieldset { border: 1px solid var(--line); background: #fff; margin: 1rem 0; }
        pre { white-space: pre-wrap; word-break: break-all; background: #fff; border: 1px solid var(--line); padding: .6rem; }
        button { cursor: pointer; } button[disabled] { cursor: not-allowed; }
        .muted { color: var(--muted); }
        .login { max-width: 22rem; background: #fff; border: 1px solid var(--line); padding: 1rem 1.2rem; }
        .login label { display: block; margin: .6rem 0 .2rem; } .login input { width: 100%; padding: .35rem; }
        form.stacked { max-width: 32rem; } form.stacked label { display: block; margin: .5rem 0; }
        form.stacked input, form.stacked select { display: block; width: 100%; padding: .3rem; margin-top: .15rem; }
        table.attendance td.sign { min-width: 5.5rem; height: 2.4rem; } table.attendance td.name { min-width: 14rem; }
        .signatures { display: flex; justify-content: space-between; margin-top: 1.5rem; }
        @media print {
          nav, form, button, .no-print, .flash { display: none !important; }
          body { background: #fff; font-size: 11pt; } main { padding: 0; max-width: none; }
          table { border-collapse: collapse; } th, td { border: 1px solid #000; }
          section.sheet { break-after: page; } section.sheet:last-of-type { break-after: auto; }
          a { color: inherit; text-decoration: none; }
        }
        """
}
