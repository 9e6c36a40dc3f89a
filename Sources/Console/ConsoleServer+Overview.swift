// The pages that read: programme progress, the roles' queues, the audit log.
import Admin
import ContractKit
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Logging
import NIOCore
import Topology

extension ConsoleServer {
    // MARK: Progress

    func progressPage(_ session: ConsoleSession) async throws -> Response {
        let report = try await ProgressReport.read(from: store, catalogue: configuration.catalogue)
        let reviews = try await ReviewQueue.read(from: store, limit: 0)
        var gapRows: HTML = ""
        for gap in report.gaps {
            gapRows += """
                <tr data-centre="\(gap.key)"><td>\(gap.label)</td><td class="number">\(gap.gap)</td>\
                <td class="number">\(gap.notYetCompetent)</td><td class="number">\(gap.mayRetake)</td>\
                <td class="number">\(gap.waiting)</td></tr>
                """
        }
        var body: HTML = "<div class=\"cards\">"
        for stage in report.funnel {
            body += "<div class=\"card\" id=\"count-\(stage.key)\"><span>\(stage.label)</span><b>\(stage.count)</b></div>"
        }
        body += """
            <div class="card" id="count-rejected"><span>Rejected</span><b>\(report.rejected)</b></div>
            <div class="card" id="count-waitlisted"><span>Waiting list</span><b>\(report.waitlisted)</b></div>
            <div class="card" id="count-reviews"><span><a href="/reviews">Menunggu verifikasi</a></span>\
            <b>\(reviews.count)</b><small>\(reviews.oldestAgeSeconds.map { "terlama " + IndonesianText.duration($0) } ?? "")</small>\
            </div></div>
            <h2>Funnel</h2>\(Chart.funnel(report.funnel))
            <h2>Per BLKI: certified against the 2025 target</h2>
            \(Chart.targets(report.centres, id: "centre-chart", acceptedLabel: "accepted", doneLabel: "certified"))
            <h2>Closing the gap to the target</h2><table id="gaps"><tr><th>BLKI</th><th>Gap</th>\
            <th>BELUM KOMPETEN</th><th>of whom may take an uji ulang</th><th>On its waiting lists</th></tr>\
            \(gapRows)</table>
            <h2>Apprenticeships placed against the \(report.apprenticeships.target) places</h2>
            \(Chart.targets([report.apprenticeships], id: "apprenticeship-chart", acceptedLabel: "accepted", doneLabel: "placed"))
            <h2>Per sector (KBLI): certified against the planned seats</h2>
            \(Chart.targets(report.sectors, id: "sector-chart", acceptedLabel: "accepted", doneLabel: "certified"))
            <h2>Table</h2><table id="targets"><tr><th>Group</th><th>Accepted</th><th>Certified / placed</th><th>Target</th></tr>
            """
        for line in report.centres + [report.apprenticeships] + report.sectors {
            body += """
                <tr><td>\(line.label)</td><td class="number">\(line.accepted)</td>\
                <td class="number">\(line.certified)</td><td class="number">\(line.target)</td></tr>
                """
        }
        body += """
            </table><p class="muted">From the console's own read model (queue \(RoleTopology(role: .console, prefix: configuration.topologyPrefix).queue)); \
            refreshed every 5 s. Certified = a competency certificate, not revoked; notified = told after it.</p>
            """
        return html(Page.frame(title: "Programme progress", session: session, active: "progress", refreshSeconds: 5, body: body))
    }

    // MARK: Queues

    func queuesPage(_ session: ConsoleSession) async throws -> Response {
        let rows: [QueueStatusRow]
        do {
            rows = try await desk.status(roles: roles, management: configuration.management)
        } catch {
            return html(
                Page.frame(
                    title: "Queues", session: session, active: "queues",
                    body: Page.message("The broker cannot be read: \(error)", kind: "error")))
        }
        func rate(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "–" }
        var body: HTML = """
            <table id="queues"><tr><th>Role</th><th>Queue</th><th>Ready</th><th>Unacked</th><th>Consumers</th>\
            <th>In/s</th><th>Ack/s</th><th>Retry tiers</th><th>Dead letters</th><th>Oldest dead letter</th></tr>
            """
        for row in rows {
            let tiers = row.retryTiers.map { (name: $0.key.replacingOccurrences(of: "retry.", with: ""), depth: $0.value) }
                .sorted { Self.delaySeconds($0.name) < Self.delaySeconds($1.name) }
                .map { "\($0.name): \($0.depth)" }.joined(separator: " · ")
            body += """
                <tr data-role="\(row.role)"><td>\(row.role)</td><td>\(row.queue)</td>\
                <td class="number">\(row.ready)</td><td class="number">\(row.unacknowledged.map(String.init) ?? "–")</td>\
                <td class="number">\(row.consumers)</td><td class="number">\(rate(row.publishRate))</td>\
                <td class="number">\(rate(row.ackRate))</td><td class="tiers">\(tiers)</td>\
                <td class="number dead">\(row.deadLetters)</td>\
                <td>\(row.oldestDeadLetterAgeSeconds.map { Self.age($0) } ?? "–")</td></tr>
                """
        }
        body += """
            </table><p class="muted">Depths from the broker; unacked and rates from the management API\
            \(configuration.management == nil ? " (not configured)" : ""). The oldest unprocessed message of a role \
            queue is the workers' gauge jobs_oldest_unprocessed_age_seconds.</p>
            """
        return html(Page.frame(title: "Queues", session: session, active: "queues", refreshSeconds: 5, body: body))
    }

    /// `5s`, `30s`, `5m`, `2h` → seconds, to order the retry tiers.
    static func delaySeconds(_ text: String) -> Double {
        let number = Double(text.prefix { $0.isNumber || $0 == "." }) ?? 0
        switch text.last {
        case "m": return number * 60
        case "h": return number * 3600
        default: return number
        }
    }

    static func age(_ seconds: Double) -> String {
        switch seconds {
        case ..<90: String(format: "%.0f s", seconds)
        case ..<5400: String(format: "%.0f min", seconds / 60)
        case ..<172_800: String(format: "%.1f h", seconds / 3600)
        default: String(format: "%.1f d", seconds / 86400)
        }
    }

    // MARK: Audit

    func auditPage(_ session: ConsoleSession) throws -> Response {
        let entries = (try? configuration.auditLog.entries()) ?? []
        var body: HTML = """
            <table id="audit"><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>Filter</th>\
            <th>Count</th><th>Details</th></tr>
            """
        for entry in entries.reversed().prefix(500) {
            let details = entry.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            body += """
                <tr class="entry"><td>\(entry.at)</td><td>\(entry.who)</td><td>\(entry.action)</td>\
                <td>\(entry.target)</td><td>\(entry.filter ?? "")</td><td class="number">\(entry.count)</td>\
                <td>\(details)</td></tr>
                """
        }
        body += "</table><p class=\"muted\">Shared with kaltim-admin; newest first.</p>"
        return html(Page.frame(title: "Audit log", session: session, active: "audit", body: body))
    }
}
